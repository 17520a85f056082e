//! Patch bodies: JSON merge patch (RFC 7386) in full, strategic merge patch where it means
//! the same as a merge patch (maps, e.g. labels). Strategic list merging and `$patch`
//! directives are refused, not approximated.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    StrategicMerge,
}

impl PatchKind {
    /// The patch kind for a request's content type, or why it is refused.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Result<Self, String> {
        let media = content_type
            .map(|ct| ct.split(';').next().unwrap_or(ct).trim())
            .unwrap_or("");
        match media {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::StrategicMerge),
            "application/json-patch+json" | "application/apply-patch+yaml" => Err(format!(
                "the stand-in does not implement {media} patches; \
                 it applies merge-patch+json and strategic-merge-patch+json"
            )),
            other => Err(format!(
                "the body of the request was in an unknown format - accepted media types \
                 include: application/json-patch+json, application/merge-patch+json, \
                 application/apply-patch+yaml, application/strategic-merge-patch+json \
                 (got {other:?})"
            )),
        }
    }
}

/// Applies `patch` to `target`. A strategic patch that needs list merging or a directive is
/// refused with the path of the first such place.
pub(crate) fn apply(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), String> {
    if kind == PatchKind::StrategicMerge {
        if let Some(path) = strategic_only_place(patch, "") {
            return Err(format!(
                "the stand-in applies strategic merge patches to maps only; \
                 this patch needs list merging or a directive at {path}"
            ));
        }
    }
    merge(target, patch);
    Ok(())
}

fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Where a strategic merge patch differs from a merge patch: a list (merged by key) or a
/// `$`-directive.
fn strategic_only_place(patch: &Value, path: &str) -> Option<String> {
    match patch {
        Value::Array(_) => Some(if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        }),
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            let here = format!("{path}/{key}");
            if key.starts_with('$') {
                Some(here)
            } else {
                strategic_only_place(value, &here)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes_keys() {
        let mut pod = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}});
        apply(
            PatchKind::Merge,
            &mut pod,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        )
        .unwrap();
        assert_eq!(
            pod,
            json!({"metadata": {"name": "p", "labels": {"b": "2", "c": "3"}}})
        );
    }

    #[test]
    fn strategic_patch_with_lists_is_refused_with_its_place() {
        let mut pod = json!({});
        let err = apply(
            PatchKind::StrategicMerge,
            &mut pod,
            &json!({"spec": {"containers": [{"name": "x"}]}}),
        )
        .unwrap_err();
        assert!(err.contains("/spec/containers"), "{err}");
        assert!(apply(
            PatchKind::StrategicMerge,
            &mut pod,
            &json!({"metadata": {"$retainKeys": {}}})
        )
        .unwrap_err()
        .contains("/metadata/$retainKeys"));
    }

    #[test]
    fn content_types_map_to_patch_kinds() {
        assert_eq!(
            PatchKind::from_content_type(Some("application/merge-patch+json; charset=utf-8")),
            Ok(PatchKind::Merge)
        );
        assert!(PatchKind::from_content_type(Some("application/json-patch+json")).is_err());
        assert!(PatchKind::from_content_type(None).is_err());
    }
}
