//! `glob` patterns. Most are literals with `*` and `?` (`--vacuum-*`, `/dev/cpu/*/msr`): those
//! are matched directly, which is many times cheaper than a glob set's regular expressions.
//! The rest (classes, alternates, `**`, escapes) go through `globset`. The meaning is the glob
//! set's, with `*` and `?` allowed to match `/`: `*` matches any bytes and `?` any one byte,
//! except a newline; text with a newline is left to the glob set.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug)]
pub struct Globs {
    /// Patterns of literals, `*` and `?`.
    simple: Vec<Box<[u8]>>,
    /// Every other pattern.
    others: Option<GlobSet>,
    /// Every pattern, for text with a newline.
    all: GlobSet,
}

impl Globs {
    pub fn new(patterns: &[String]) -> Result<Globs, String> {
        let set = |patterns: &mut dyn Iterator<Item = &String>| {
            let mut builder = GlobSetBuilder::new();
            for pattern in patterns {
                let glob = GlobBuilder::new(pattern)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| format!("bad glob `{pattern}`: {e}"))?;
                builder.add(glob);
            }
            builder.build().map_err(|e| format!("bad glob set: {e}"))
        };
        let (simple, others): (Vec<&String>, Vec<&String>) =
            patterns.iter().partition(|p| is_simple(p));
        Ok(Globs {
            simple: simple.iter().map(|p| p.as_bytes().into()).collect(),
            others: if others.is_empty() {
                None
            } else {
                Some(set(&mut others.into_iter())?)
            },
            all: set(&mut patterns.iter())?,
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        if text.contains('\n') {
            return self.all.is_match(text);
        }
        self.simple
            .iter()
            .any(|pattern| wildcard_match(pattern, text.as_bytes()))
            || self.others.as_ref().is_some_and(|set| set.is_match(text))
    }
}

/// Literals, `*` and `?` only.
impl Globs {
    /// Whether every pattern is of literals, `*` and `?` only.
    pub(crate) fn all_simple(&self) -> bool {
        self.others.is_none()
    }
}

fn is_simple(pattern: &str) -> bool {
    !pattern.contains("**") && !pattern.contains(['[', ']', '{', '}', '\\'])
}

/// `*` matches any bytes, `?` any one byte (the text has no newline).
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: where the pattern resumes and how much text the star took.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&b) if b == b'?' || b == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star take one more byte and retry from there.
                Some((resume, taken)) => {
                    star = Some((resume, taken + 1));
                    p = resume;
                    t = taken + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(patterns: &[&str]) -> Globs {
        Globs::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn simple_patterns_match_like_the_glob_set() {
        let patterns = [
            "/dev/cpu/*/msr",
            "--vacuum-*",
            "-*r",
            "a?c",
            "*",
            "",
            "x*y*z",
            "*.so.*",
            "é?",
        ];
        let texts = [
            "/dev/cpu/0/msr",
            "/dev/cpu/0/1/msr",
            "/dev/cpu/msr",
            "--vacuum-size=1G",
            "--vacuum",
            "-fr",
            "-r",
            "r",
            "abc",
            "a/c",
            "ac",
            "",
            "xyz",
            "x-y-z-z",
            "xzy",
            "libc.so.6",
            "é1",
            "éé",
            "a\nc",
            "--vacuum-\n",
        ];
        for pattern in patterns {
            let ours = globs(&[pattern]);
            let reference = GlobSetBuilder::new()
                .add(
                    GlobBuilder::new(pattern)
                        .literal_separator(false)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            for text in texts {
                assert_eq!(
                    ours.is_match(text),
                    reference.is_match(text),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn simple_patterns_agree_with_the_glob_set(
            pattern in "[ab/*?é.]{0,8}",
            text in "[ab/é.\n]{0,10}",
        ) {
            let reference = GlobSetBuilder::new()
                .add(GlobBuilder::new(&pattern).literal_separator(false).build().unwrap())
                .build()
                .unwrap();
            proptest::prop_assert_eq!(globs(&[&pattern]).is_match(&text), reference.is_match(&text));
        }
    }

    #[test]
    fn other_patterns_use_the_glob_set() {
        let g = globs(&["*.{sh,py}", "[ab]x", "--reference*"]);
        assert!(g.is_match("run.sh"));
        assert!(g.is_match("bx"));
        assert!(g.is_match("--reference=/etc/passwd"));
        assert!(!g.is_match("run.rb"));
    }
}
