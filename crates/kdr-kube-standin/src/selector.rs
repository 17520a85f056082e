//! The `labelSelector` query parameter: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
//! `a`, `!a`, joined by commas, with the API server's meaning (`!=` and `notin` also match
//! pods without the label).

use std::collections::BTreeMap;

use crate::validate::{label_key_problem, label_value_problem};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector; the error says which requirement is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let requirements = split_top_level(text)?
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| parse_requirement(part.trim()))
            .collect::<Result<_, _>>()?;
        Ok(LabelSelector { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' at byte {at} of {text:?}"))?
            }
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(text: &str) -> Result<Requirement, String> {
    if let Some(key) = text.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(checked_key(key.trim())?));
    }
    if let Some((key, rest)) = text.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        for (word, is_in) in [("in", true), ("notin", false)] {
            if let Some(set) = rest.strip_prefix(word) {
                if set.starts_with(|c: char| c.is_whitespace() || c == '(') {
                    let key = checked_key(key)?;
                    let values = parse_set(set.trim(), text)?;
                    return Ok(if is_in {
                        Requirement::In(key, values)
                    } else {
                        Requirement::NotIn(key, values)
                    });
                }
            }
        }
    }
    if let Some((key, value)) = text.split_once("!=") {
        return Ok(Requirement::NotEquals(
            checked_key(key.trim())?,
            checked_value(value.trim())?,
        ));
    }
    if let Some((key, value)) = text.split_once('=') {
        let value = value.strip_prefix('=').unwrap_or(value);
        return Ok(Requirement::Equals(
            checked_key(key.trim())?,
            checked_value(value.trim())?,
        ));
    }
    if text.contains(['<', '>']) {
        return Err(format!(
            "the stand-in does not implement the numeric operators '<' and '>' ({text:?})"
        ));
    }
    Ok(Requirement::Exists(checked_key(text)?))
}

fn parse_set(text: &str, requirement: &str) -> Result<Vec<String>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized value set in {requirement:?}"))?;
    inner
        .split(',')
        .map(|value| checked_value(value.trim()))
        .collect()
}

fn checked_key(key: &str) -> Result<String, String> {
    match label_key_problem(key) {
        Some(problem) => Err(format!("invalid label key {key:?}: {problem}")),
        None => Ok(key.to_string()),
    }
}

fn checked_value(value: &str) -> Result<String, String> {
    match label_value_problem(value) {
        Some(problem) => Err(format!("invalid label value {value:?}: {problem}")),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_and_equality_requirements_follow_the_api_server() {
        let selector = LabelSelector::parse("k8s-app in (cilium, calico-node),tier!=db").unwrap();
        assert!(selector.matches(&labels(&[("k8s-app", "cilium")])));
        assert!(!selector.matches(&labels(&[("k8s-app", "cilium"), ("tier", "db")])));
        assert!(!selector.matches(&labels(&[("k8s-app", "aws-node")])));

        let selector = LabelSelector::parse("app==web,!canary,env notin (prod)").unwrap();
        assert!(selector.matches(&labels(&[("app", "web")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("canary", "")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("env", "prod")])));

        let selector = LabelSelector::parse("kdr.io/isolated").unwrap();
        assert!(selector.matches(&labels(&[("kdr.io/isolated", "x")])));
        assert!(LabelSelector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn malformed_selectors_say_what_is_wrong() {
        assert!(LabelSelector::parse("a in (x")
            .unwrap_err()
            .contains("unbalanced '('"));
        assert!(LabelSelector::parse("a=b c")
            .unwrap_err()
            .contains("invalid label value"));
        assert!(LabelSelector::parse("a>1").unwrap_err().contains("'<'"));
    }
}
