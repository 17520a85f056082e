//! Who may do what: permissions, password hashing (Argon2id), API tokens, session ids, CSRF
//! tokens and the login rate limit.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a user or token may do. Admin implies every other permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Permission {
    /// See alerts, incidents, hunting, reports and the action center.
    #[serde(rename = "Alerts: read")]
    AlertsRead,
    /// Change alert and incident status, assign, comment.
    #[serde(rename = "Alerts: manage")]
    AlertsManage,
    /// Isolate, release and terminate pods.
    #[serde(rename = "Response: manage")]
    ResponseManage,
    /// Send events: the audit webhook and remote sensors (for machine tokens).
    #[serde(rename = "Ingest: write")]
    IngestWrite,
    /// Users, tokens, the audit trail.
    #[serde(rename = "Admin")]
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::AlertsRead,
        Permission::AlertsManage,
        Permission::ResponseManage,
        Permission::IngestWrite,
        Permission::Admin,
    ];

    /// The name users see ("Alerts: read").
    pub fn label(self) -> &'static str {
        match self {
            Permission::AlertsRead => "Alerts: read",
            Permission::AlertsManage => "Alerts: manage",
            Permission::ResponseManage => "Response: manage",
            Permission::IngestWrite => "Ingest: write",
            Permission::Admin => "Admin",
        }
    }

    /// The name stored in the database.
    pub fn key(self) -> &'static str {
        match self {
            Permission::AlertsRead => "alerts.read",
            Permission::AlertsManage => "alerts.manage",
            Permission::ResponseManage => "response.manage",
            Permission::IngestWrite => "ingest.write",
            Permission::Admin => "admin",
        }
    }

    /// Reads a permission by its key or its label (case-insensitive).
    pub fn parse(text: &str) -> Option<Permission> {
        let text = text.trim();
        Permission::ALL
            .into_iter()
            .find(|p| p.key().eq_ignore_ascii_case(text) || p.label().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The preset permission sets offered when creating users.
pub fn role_permissions(role: &str) -> Option<Vec<Permission>> {
    use Permission::*;
    Some(match role.to_ascii_lowercase().as_str() {
        "reader" => vec![AlertsRead],
        "analyst" => vec![AlertsRead, AlertsManage],
        "responder" => vec![AlertsRead, AlertsManage, ResponseManage],
        "admin" => vec![Admin],
        "ingest" => vec![IngestWrite],
        _ => return None,
    })
}

/// A set of permissions as stored (keys); unknown keys are ignored so that a newer kdr's
/// permissions never widen an older one's.
pub fn permissions_from_keys(keys: &[String]) -> Vec<Permission> {
    let mut permissions: Vec<Permission> =
        keys.iter().filter_map(|k| Permission::parse(k)).collect();
    permissions.sort();
    permissions.dedup();
    permissions
}

pub fn permission_keys(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(|p| p.key().to_owned()).collect()
}

pub fn grants(permissions: &[Permission], wanted: Permission) -> bool {
    permissions.contains(&wanted)
        || (permissions.contains(&Permission::Admin) && wanted != Permission::IngestWrite)
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| anyhow::anyhow!("making a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks a password against a stored PHC string; a malformed hash never verifies.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Where the strength check stops: kdr refuses short passwords, nothing more.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is not something kdr can work around safely.
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes
}

pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A random secret as hex (session ids, CSRF tokens, token secrets).
pub fn random_secret() -> String {
    hex(&random_bytes::<32>())
}

/// A readable random password for the first admin.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<20>()
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// SHA-256 as hex: for high-entropy secrets (tokens, session ids), where a KDF adds nothing.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An API token as handed out: `kdr_<id>_<secret>`. Only the secret's hash is stored.
pub struct IssuedToken {
    pub id: String,
    pub secret: String,
}

impl IssuedToken {
    pub fn generate() -> IssuedToken {
        IssuedToken {
            id: hex(&random_bytes::<6>()),
            secret: random_secret(),
        }
    }

    pub fn text(&self) -> String {
        format!("kdr_{}_{}", self.id, self.secret)
    }

    /// Splits a presented token into (id, secret).
    pub fn parse(text: &str) -> Option<(&str, &str)> {
        let rest = text.strip_prefix("kdr_")?;
        let (id, secret) = rest.split_once('_')?;
        (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
    }
}

/// Failed logins allowed per user name and per client address within [`LOGIN_WINDOW`].
pub const MAX_LOGIN_FAILURES: usize = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);
/// Bound on the keys the limiter remembers; the stalest are forgotten first.
const MAX_LIMITER_KEYS: usize = 10_000;

/// Counts failed logins per user name and per client address in a sliding window.
#[derive(Default)]
pub struct LoginLimiter {
    failures: HashMap<String, Vec<Instant>>,
}

impl LoginLimiter {
    fn keys(user: &str, client: Option<IpAddr>) -> [String; 2] {
        [
            format!("user:{}", user.to_ascii_lowercase()),
            format!(
                "addr:{}",
                client.map_or_else(String::new, |a| a.to_string())
            ),
        ]
    }

    /// How long the caller must wait before trying again, if it is over the limit.
    pub fn retry_after(
        &mut self,
        user: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Option<Duration> {
        Self::keys(user, client)
            .iter()
            .filter_map(|key| {
                let times = self.failures.get_mut(key)?;
                times.retain(|t| now.duration_since(*t) < LOGIN_WINDOW);
                (times.len() >= MAX_LOGIN_FAILURES)
                    .then(|| LOGIN_WINDOW.saturating_sub(now.duration_since(times[0])))
            })
            .max()
    }

    pub fn failed(&mut self, user: &str, client: Option<IpAddr>, now: Instant) {
        if self.failures.len() >= MAX_LIMITER_KEYS {
            self.failures.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
        }
        for key in Self::keys(user, client) {
            if self.failures.len() < MAX_LIMITER_KEYS || self.failures.contains_key(&key) {
                self.failures.entry(key).or_default().push(now);
            }
        }
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn succeeded(&mut self, user: &str) {
        let [user_key, _] = Self::keys(user, None);
        self.failures.remove(&user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn admin_implies_all_but_ingest() {
        let admin = [Permission::Admin];
        assert!(grants(&admin, Permission::ResponseManage));
        assert!(!grants(&admin, Permission::IngestWrite));
        assert!(!grants(&[Permission::AlertsRead], Permission::AlertsManage));
        assert_eq!(
            Permission::parse("response: MANAGE"),
            Some(Permission::ResponseManage)
        );
        assert_eq!(
            Permission::parse("response.manage"),
            Some(Permission::ResponseManage)
        );
        assert_eq!(Permission::parse("root"), None);
    }

    #[test]
    fn tokens_round_trip() {
        let token = IssuedToken::generate();
        let text = token.text();
        assert_eq!(
            IssuedToken::parse(&text),
            Some((token.id.as_str(), token.secret.as_str()))
        );
        assert_eq!(IssuedToken::parse("kdr__x"), None);
        assert_eq!(IssuedToken::parse("Bearer abc"), None);
    }

    #[test]
    fn limiter_blocks_after_five_failures_per_user_and_address() {
        let mut limiter = LoginLimiter::default();
        let start = Instant::now();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..MAX_LOGIN_FAILURES {
            assert!(
                limiter.retry_after("alice", Some(addr), start).is_none(),
                "attempt {i}"
            );
            limiter.failed("alice", Some(addr), start);
        }
        assert!(limiter.retry_after("alice", Some(addr), start).is_some());
        // Another name from the same address is blocked too (guessing many users).
        assert!(limiter.retry_after("bob", Some(addr), start).is_some());
        // The window slides.
        assert!(limiter
            .retry_after("alice", Some(addr), start + LOGIN_WINDOW)
            .is_none());
    }
}
