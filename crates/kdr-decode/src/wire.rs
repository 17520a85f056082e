//! Small serde building blocks shared by the format modules.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::DecodeError;

/// Parses `text` as `T`. The fast attempt tracks no paths; only when it fails is the text
/// parsed again through `serde_path_to_error` to say which field was wrong.
pub(crate) fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, DecodeError> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(first) => Err(locate::<T>(text, first)),
    }
}

#[cold]
fn locate<'a, T: Deserialize<'a>>(text: &'a str, first: serde_json::Error) -> DecodeError {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(error) => {
            let path = error.path().to_string();
            let message = error.into_inner().to_string();
            if path == "." || path == "?" || path.is_empty() {
                DecodeError::new(message)
            } else {
                DecodeError::at(path, message)
            }
        }
        // The value itself was fine; what failed was after it (trailing characters).
        Ok(_) => DecodeError::new(first.to_string()),
    }
}

/// A string borrowed from the input when it has no escapes, owned otherwise. (`Cow<str>`
/// itself always deserializes owned when wrapped in `Option`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// Azure writes some fields either as a plain string or as `{"value": ..., "localizedValue":
/// ...}` (Activity Log REST shape); both mean the `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object with a string `value`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if key.as_str() == "value" {
                        if value.is_some() {
                            return Err(de::Error::duplicate_field("value"));
                        }
                        value = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                value
                    .map(Text)
                    .ok_or_else(|| de::Error::missing_field("value"))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// A JSON object of string values kept in input order, as the model's annotation list wants
/// (no intermediate map).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StringPairs(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for StringPairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = StringPairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, String>()? {
                    pairs.push(entry);
                }
                Ok(StringPairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// `Some(text)` unless empty: the model uses `None` for "not known".
pub(crate) fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

/// The segment after `marker` in an ARM resource ID or a path, compared case-insensitively
/// (AKS upper-cases the resource IDs in its diagnostic records).
pub(crate) fn segment_after(path: &str, marker: &str) -> Option<String> {
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(marker) {
            return parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        }
    }
    None
}
