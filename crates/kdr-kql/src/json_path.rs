//! `tostring()` of a dynamic value on SQLite in one pass over the JSON text.
//!
//! SQLite 3.45+ converts a whole JSON text to its binary form before every lookup; audit
//! events are kilobytes of JSON, and the value a hunt asks for (`objectRef.name`, `verb`,
//! ...) usually sits in the first few hundred bytes. This walks the text with serde_json,
//! skipping what is not on the path without allocating, and stops at the value.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// One step of a JSON path as the compiler writes them for SQLite: `."key"`, `[n]`, `[#-n]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
    /// `[#-n]`: the n-th element from the end (n ≥ 1).
    FromEnd(usize),
}

/// Parses `$`, `$."a"."b"`, `$."a"[0]`, `$[#-1]`. Keys hold no `"` or `\` (the compiler
/// refuses those).
pub fn parse_path(path: &str) -> Result<Vec<PathStep>, String> {
    let mut rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("JSON path {path:?}: expected '$' first"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let bad = || format!("JSON path {path:?}: expected .\"key\", [n] or [#-n] at {rest:?}");
        if let Some(after) = rest.strip_prefix(".\"") {
            let end = after.find('"').ok_or_else(bad)?;
            steps.push(PathStep::Key(after[..end].to_owned()));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let index = &after[..end];
            let step = match index.strip_prefix("#-") {
                Some(n) => PathStep::FromEnd(n.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?),
                None => PathStep::Index(index.parse().map_err(|_| bad())?),
            };
            steps.push(step);
            rest = &after[end + 1..];
        } else {
            return Err(bad());
        }
    }
    Ok(steps)
}

/// KQL's `tostring()` of the value at `path` in `json`: a string's text, `""` for null or a
/// missing value, else the value's JSON text. `Err` when the JSON is malformed before the
/// value is reached.
pub fn to_string_at(json: &str, path: &[PathStep]) -> Result<String, String> {
    Ok(match find(json, path)? {
        None => String::new(),
        Some(raw) => {
            let text = raw.get();
            if text.starts_with('"') {
                serde_json::from_str::<String>(text).map_err(|e| e.to_string())?
            } else if text == "null" {
                String::new()
            } else {
                text.to_owned()
            }
        }
    })
}

/// Set once the walk knows its answer; the walk then stops by returning an error.
enum Decided<'de> {
    Found(&'de RawValue),
    Missing,
}

const DECIDED: &str = "kdr: lookup decided";

fn find<'de>(json: &'de str, path: &[PathStep]) -> Result<Option<&'de RawValue>, String> {
    let mut decided = None;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let walked = Lookup {
        steps: path,
        decided: &mut decided,
    }
    .deserialize(&mut deserializer);
    match (decided, walked) {
        (Some(Decided::Found(raw)), _) => Ok(Some(raw)),
        (Some(Decided::Missing), _) | (None, Ok(())) => Ok(None),
        (None, Err(error)) => Err(format!("malformed JSON: {error}")),
    }
}

struct Lookup<'p, 'o, 'de> {
    steps: &'p [PathStep],
    decided: &'o mut Option<Decided<'de>>,
}

impl<'de> Lookup<'_, '_, 'de> {
    fn decide<E: de::Error>(self, outcome: Decided<'de>) -> Result<(), E> {
        *self.decided = Some(outcome);
        Err(E::custom(DECIDED))
    }
}

impl<'de> DeserializeSeed<'de> for Lookup<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.steps.is_empty() {
            let raw = <&'de RawValue>::deserialize(deserializer)?;
            return self.decide(Decided::Found(raw));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lookup<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let PathStep::Key(wanted) = &self.steps[0] else {
            return self.decide(Decided::Missing);
        };
        while let Some(matches) = map.next_key_seed(KeyIs(wanted))? {
            if matches {
                // The first member of that name answers, as SQLite's lookup does.
                let rest = Lookup {
                    steps: &self.steps[1..],
                    decided: self.decided,
                };
                map.next_value_seed(rest)?;
                return Err(de::Error::custom(DECIDED));
            }
            map.next_value::<IgnoredAny>()?;
        }
        self.decide(Decided::Missing)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.steps[0] {
            PathStep::Key(_) => self.decide(Decided::Missing),
            PathStep::Index(wanted) => {
                for _ in 0..wanted {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return self.decide(Decided::Missing);
                    }
                }
                let rest = Lookup {
                    steps: &self.steps[1..],
                    decided: self.decided,
                };
                match seq.next_element_seed(rest)? {
                    Some(()) => Err(de::Error::custom(DECIDED)),
                    None => {
                        *self.decided = Some(Decided::Missing);
                        Err(de::Error::custom(DECIDED))
                    }
                }
            }
            PathStep::FromEnd(back) => {
                let mut elements: Vec<&'de RawValue> = Vec::new();
                while let Some(element) = seq.next_element()? {
                    elements.push(element);
                }
                let Some(element) = elements.len().checked_sub(back).map(|i| elements[i]) else {
                    return self.decide(Decided::Missing);
                };
                let outcome = match find(element.get(), &self.steps[1..]) {
                    Ok(Some(raw)) => Decided::Found(raw),
                    Ok(None) => Decided::Missing,
                    Err(message) => return Err(de::Error::custom(message)),
                };
                self.decide(outcome)
            }
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.decide(Decided::Missing)
    }
}

/// Compares an object key with the wanted one without allocating (escaped keys arrive
/// unescaped in a scratch buffer).
struct KeyIs<'w>(&'w str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(json: &str, path: &str) -> Result<String, String> {
        to_string_at(json, &parse_path(path)?)
    }

    #[test]
    fn values_by_path_as_kql_strings() {
        let doc = r#"{"kind":"Event","objectRef":{"name":"web-1","n":3,"ok":true,"z":null,
            "o":{"a" : [1, 2]}},"list":[{"x":"first"},{"x":"sec\"ond"}],"esc\u0061pe":"e"}"#;
        assert_eq!(at(doc, r#"$."objectRef"."name""#), Ok("web-1".into()));
        assert_eq!(at(doc, r#"$."objectRef"."n""#), Ok("3".into()));
        assert_eq!(at(doc, r#"$."objectRef"."ok""#), Ok("true".into()));
        assert_eq!(at(doc, r#"$."objectRef"."z""#), Ok("".into()));
        assert_eq!(at(doc, r#"$."objectRef"."missing""#), Ok("".into()));
        assert_eq!(
            at(doc, r#"$."objectRef"."o""#),
            Ok(r#"{"a" : [1, 2]}"#.into())
        );
        assert_eq!(at(doc, r#"$."list"[1]."x""#), Ok("sec\"ond".into()));
        assert_eq!(at(doc, r#"$."list"[#-2]."x""#), Ok("first".into()));
        assert_eq!(at(doc, r#"$."list"[2]"#), Ok("".into()));
        assert_eq!(at(doc, r#"$."list"[#-3]"#), Ok("".into()));
        assert_eq!(at(doc, r#"$."escape""#), Ok("e".into()));
        assert_eq!(at(doc, r#"$."kind"."deeper""#), Ok("".into()));
        assert_eq!(at(doc, r#"$."objectRef"."name"[0]"#), Ok("".into()));
        assert_eq!(at(r#""top""#, "$"), Ok("top".into()));
        assert_eq!(at("[1,2]", "$[0]"), Ok("1".into()));
    }

    #[test]
    fn the_first_member_of_a_repeated_name_answers() {
        assert_eq!(at(r#"{"a":1,"a":2}"#, r#"$."a""#), Ok("1".into()));
    }

    #[test]
    fn malformed_json_before_the_value_is_an_error() {
        assert!(at(r#"{"a":[1,}"#, r#"$."b""#).is_err());
        assert!(at("not json", "$").is_err());
        assert!(parse_path(r#"$."a"#).is_err());
        assert!(parse_path("$[x]").is_err());
        assert!(parse_path("$[#-0]").is_err());
        assert!(parse_path("a").is_err());
    }
}
