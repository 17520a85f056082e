//! Whether a `LabelSelector` (matchLabels, matchExpressions) selects a set of labels, with the
//! API server's meaning. An operator kdr does not know is reported, so the caller can treat
//! the policy as possibly selecting rather than silently ignoring it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Selects,
    DoesNotSelect,
    /// The selector uses an operator kdr cannot evaluate (named here).
    Unknown(String),
}

/// An absent selector and an empty one both select every pod.
pub fn evaluate(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> Selection {
    let Some(selector) = selector else {
        return Selection::Selects;
    };
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    if !labels_match {
        return Selection::DoesNotSelect;
    }
    let mut unknown = None;
    for expression in selector.match_expressions.iter().flatten() {
        let value = labels.get(&expression.key);
        let listed = |v: &String| expression.values.iter().flatten().any(|listed| listed == v);
        let matches = match expression.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => value.is_none_or(|v| !listed(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                unknown.get_or_insert_with(|| other.to_string());
                continue;
            }
        };
        if !matches {
            return Selection::DoesNotSelect;
        }
    }
    match unknown {
        Some(operator) => Selection::Unknown(operator),
        None => Selection::Selects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        expressions: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!expressions.is_empty()).then_some(expressions),
        }
    }

    #[test]
    fn empty_and_absent_selectors_select_every_pod() {
        let pod = labels(&[("app", "web")]);
        assert_eq!(evaluate(None, &pod), Selection::Selects);
        assert_eq!(
            evaluate(Some(&selector(&[], vec![])), &pod),
            Selection::Selects
        );
    }

    #[test]
    fn match_labels_and_each_operator_follow_the_api_server() {
        let pod = labels(&[("app", "web"), ("tier", "frontend")]);
        let cases = [
            (selector(&[("app", "web")], vec![]), Selection::Selects),
            (selector(&[("app", "db")], vec![]), Selection::DoesNotSelect),
            (
                selector(&[], vec![expression("tier", "In", &["frontend", "edge"])]),
                Selection::Selects,
            ),
            (
                selector(&[], vec![expression("tier", "In", &["backend"])]),
                Selection::DoesNotSelect,
            ),
            (
                selector(&[], vec![expression("env", "NotIn", &["prod"])]),
                Selection::Selects,
            ),
            (
                selector(&[], vec![expression("tier", "NotIn", &["frontend"])]),
                Selection::DoesNotSelect,
            ),
            (
                selector(&[], vec![expression("app", "Exists", &[])]),
                Selection::Selects,
            ),
            (
                selector(&[], vec![expression("app", "DoesNotExist", &[])]),
                Selection::DoesNotSelect,
            ),
            (
                selector(
                    &[("app", "web")],
                    vec![expression("canary", "DoesNotExist", &[])],
                ),
                Selection::Selects,
            ),
        ];
        for (selector, expected) in cases {
            assert_eq!(evaluate(Some(&selector), &pod), expected, "{selector:?}");
        }
    }

    #[test]
    fn unknown_operators_are_reported_unless_another_requirement_fails() {
        let pod = labels(&[("app", "web")]);
        let odd = selector(&[], vec![expression("app", "Gt", &["1"])]);
        assert_eq!(evaluate(Some(&odd), &pod), Selection::Unknown("Gt".into()));
        let failing = selector(&[("app", "db")], vec![expression("app", "Gt", &["1"])]);
        assert_eq!(evaluate(Some(&failing), &pod), Selection::DoesNotSelect);
    }
}
