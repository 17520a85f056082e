//! Threat-intelligence indicators: one `INDICATOR CATEGORY` per line, `#` comments.
//! An indicator is an IPv4/IPv6 address, a CIDR, a domain (matching its subdomains too) or a
//! URL (matching URLs that start with it). Categories: `proxy`, `malware-source`,
//! `mining-pool`, `c2`.
//!
//! Lookups take any observed value (an IP, a host, a URL, `host:port`) and find the
//! indicator that covers it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    Proxy,
    MalwareSource,
    MiningPool,
    C2,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Proxy,
        Category::MalwareSource,
        Category::MiningPool,
        Category::C2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Proxy => "proxy",
            Category::MalwareSource => "malware-source",
            Category::MiningPool => "mining-pool",
            Category::C2 => "c2",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{source_name}:{line}: {message}")]
pub struct IntelError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// A matched indicator: what it was and why it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub indicator: String,
    pub category: Category,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.indicator, self.category.name())
    }
}

#[derive(Clone, Debug, Default)]
pub struct IndicatorSet {
    addresses: FxHashMap<IpAddr, u8>,
    networks: Vec<(IpNet, u8)>,
    domains: FxHashMap<String, u8>,
    urls: Vec<(String, u8)>,
}

/// The indicator set kdr ships (see rules/intel/default.txt for sources and scope).
pub const DEFAULT_INDICATORS: &str = include_str!("../../../rules/intel/default.txt");

impl IndicatorSet {
    pub fn shipped() -> IndicatorSet {
        let mut set = IndicatorSet::default();
        // The shipped file is tested to parse; a broken build would fail its test.
        let _ = set.load("rules/intel/default.txt", DEFAULT_INDICATORS);
        set
    }

    /// Adds the indicators of one file. Every bad line is reported; good lines still load.
    pub fn load(&mut self, source_name: &str, text: &str) -> Vec<IntelError> {
        let mut errors = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| IntelError {
                source_name: source_name.to_owned(),
                line: index + 1,
                message,
            };
            let mut words = line.split_whitespace();
            let (Some(indicator), Some(category), None) =
                (words.next(), words.next(), words.next())
            else {
                errors.push(error(format!(
                    "expected `INDICATOR CATEGORY`, found `{}`",
                    truncate(line)
                )));
                continue;
            };
            let Some(category) = Category::from_name(category) else {
                errors.push(error(format!(
                    "unknown category `{}`: expected proxy, malware-source, mining-pool or c2",
                    truncate(category)
                )));
                continue;
            };
            if let Err(message) = self.add(indicator, category) {
                errors.push(error(message));
            }
        }
        errors
    }

    pub fn add(&mut self, indicator: &str, category: Category) -> Result<(), String> {
        let bit = category.bit();
        if let Ok(ip) = indicator.parse::<IpAddr>() {
            *self.addresses.entry(ip).or_default() |= bit;
        } else if let Ok(net) = indicator.parse::<IpNet>() {
            self.networks.push((net.trunc(), bit));
        } else if indicator.contains("://") {
            self.urls.push((indicator.to_ascii_lowercase(), bit));
        } else if is_domain(indicator) {
            *self
                .domains
                .entry(indicator.trim_end_matches('.').to_ascii_lowercase())
                .or_default() |= bit;
        } else {
            return Err(format!(
                "`{}` is not an IP address, CIDR, domain or URL",
                truncate(indicator)
            ));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.addresses.len() + self.networks.len() + self.domains.len() + self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds an indicator of `category` covering `value` (an IP, host, `host:port` or URL).
    pub fn lookup(&self, value: &str, category: Category) -> Option<Hit> {
        let bit = category.bit();
        let hit = |indicator: String| {
            Some(Hit {
                indicator,
                category,
            })
        };
        let value = value.trim();
        // Every indicator form has a dot or a colon (URLs, IPv4, IPv6, domains), so most
        // observed values (flags, words, plain paths) are ruled out at once.
        if !value.bytes().any(|b| b == b'.' || b == b':') {
            return None;
        }
        if value.contains("://") {
            let lower = value.to_ascii_lowercase();
            if let Some((url, _)) = self
                .urls
                .iter()
                .find(|(url, bits)| bits & bit != 0 && lower.starts_with(url.as_str()))
            {
                return hit(url.clone());
            }
            return self.lookup_host(url_host(value), bit, category);
        }
        self.lookup_host(value, bit, category)
    }

    fn lookup_host(&self, host: &str, bit: u8, category: Category) -> Option<Hit> {
        let host = strip_port(host);
        let could_be_ip = host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
        if let Some(ip) = could_be_ip.then(|| host.parse::<IpAddr>().ok()).flatten() {
            if self.addresses.get(&ip).is_some_and(|b| b & bit != 0) {
                return Some(Hit {
                    indicator: ip.to_string(),
                    category,
                });
            }
            return self
                .networks
                .iter()
                .find(|(net, bits)| bits & bit != 0 && net.contains(&ip))
                .map(|(net, _)| Hit {
                    indicator: net.to_string(),
                    category,
                });
        }
        // A domain indicator covers its subdomains: check every suffix at a dot.
        let host = host.trim_end_matches('.');
        let lower = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(host.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(host)
        };
        let mut candidate = lower.as_ref();
        loop {
            if self.domains.get(candidate).is_some_and(|b| b & bit != 0) {
                return Some(Hit {
                    indicator: candidate.to_owned(),
                    category,
                });
            }
            match candidate.find('.') {
                Some(dot) => candidate = &candidate[dot + 1..],
                None => return None,
            }
        }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

fn is_domain(text: &str) -> bool {
    let text = text.trim_end_matches('.');
    !text.is_empty()
        && text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn url_host(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

/// `host:port`, `[v6]:port` and bare IPv6 addresses.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if host.matches(':').count() == 1 {
        return host.split(':').next().unwrap_or(host);
    }
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> IndicatorSet {
        let mut set = IndicatorSet::default();
        assert_eq!(set.load("t", text), vec![]);
        set
    }

    #[test]
    fn every_indicator_kind_matches() {
        let s = set("198.51.100.23 proxy\n203.0.113.0/28 proxy # range\n2001:db8::/32 c2\npool.example.org mining-pool\nhttp://files.example.net/drop/ malware-source\n");
        assert!(s.lookup("198.51.100.23", Category::Proxy).is_some());
        assert!(s.lookup("198.51.100.23", Category::C2).is_none());
        assert_eq!(
            s.lookup("203.0.113.9", Category::Proxy).unwrap().indicator,
            "203.0.113.0/28"
        );
        assert!(s.lookup("203.0.113.16", Category::Proxy).is_none());
        assert!(s.lookup("[2001:db8::1]:443", Category::C2).is_some());
        assert!(s
            .lookup("eu.pool.example.org:3333", Category::MiningPool)
            .is_some());
        assert!(s
            .lookup(
                "stratum+tcp://eu.POOL.example.org:3333",
                Category::MiningPool
            )
            .is_some());
        assert!(s
            .lookup("notpool.example.org", Category::MiningPool)
            .is_none());
        assert!(s
            .lookup(
                "http://files.example.net/drop/x.sh",
                Category::MalwareSource
            )
            .is_some());
        assert!(s
            .lookup("http://files.example.net/other", Category::MalwareSource)
            .is_none());
    }

    #[test]
    fn bad_lines_say_where() {
        let mut s = IndicatorSet::default();
        let errors = s.load(
            "f.txt",
            "# c\n1.2.3.4 proxy\nnot an entry here\n5.6.7.8 botnet\n!!! proxy\n",
        );
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].line, 3);
        assert!(errors[1]
            .to_string()
            .starts_with("f.txt:4: unknown category"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn shipped_set_parses() {
        let mut s = IndicatorSet::default();
        assert_eq!(s.load("default", DEFAULT_INDICATORS), vec![]);
        assert!(!s.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}", value in "\\PC{0,60}") {
            let mut s = IndicatorSet::default();
            let _ = s.load("p", &text);
            for category in Category::ALL {
                let _ = s.lookup(&value, category);
            }
        }
    }
}
