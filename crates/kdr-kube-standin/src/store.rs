//! The stand-in's objects and the API server's rules for changing them: server-set metadata
//! (uid, resourceVersion, creationTimestamp), name and label validation, AlreadyExists,
//! optimistic concurrency (Conflict), delete preconditions.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::patch::{self, PatchKind};
use crate::seed::CustomResourceType;
use crate::selector::LabelSelector;
use crate::status::ApiStatus;
use crate::validate::{dns_subdomain_problem, label_key_problem, label_value_problem};

/// A namespaced resource type the stand-in serves.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    /// Built-in types omit `apiVersion`/`kind` on list items, as the API server does;
    /// custom resources keep them.
    pub builtin: bool,
}

impl ResourceType {
    fn builtin(api_version: &str, kind: &str, plural: &str) -> Self {
        ResourceType {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            builtin: true,
        }
    }

    /// How the API server names the resource in messages: `pods`,
    /// `networkpolicies.networking.k8s.io`.
    pub fn qualified(&self) -> String {
        match self.api_version.split_once('/') {
            Some((group, _)) => format!("{}.{group}", self.plural),
            None => self.plural.clone(),
        }
    }
}

/// What a DELETE asked for, from its `DeleteOptions` body and query.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
}

type ObjectKey = (usize, String, String);

pub(crate) struct Store {
    types: Vec<ResourceType>,
    objects: BTreeMap<ObjectKey, Value>,
    last_resource_version: u64,
}

impl Store {
    pub fn new(custom: &[CustomResourceType]) -> Self {
        let mut types = vec![
            ResourceType::builtin("v1", "Pod", "pods"),
            ResourceType::builtin("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        ];
        types.extend(custom.iter().map(|c| ResourceType {
            api_version: c.api_version.clone(),
            kind: c.kind.clone(),
            plural: c.plural.clone(),
            builtin: false,
        }));
        Store {
            types,
            objects: BTreeMap::new(),
            last_resource_version: 0,
        }
    }

    pub fn resource_type(&self, api_version: &str, plural: &str) -> Option<usize> {
        self.types
            .iter()
            .position(|t| t.api_version == api_version && t.plural == plural)
    }

    /// The resource type of a full object, by its `apiVersion` and `kind`.
    pub fn type_of_object(&self, object: &Value) -> Option<usize> {
        let api_version = object.get("apiVersion").and_then(Value::as_str)?;
        let kind = object.get("kind").and_then(Value::as_str)?;
        self.types
            .iter()
            .position(|t| t.api_version == api_version && t.kind == kind)
    }

    pub fn types_in_group_version(&self, api_version: &str) -> Vec<&ResourceType> {
        self.types
            .iter()
            .filter(|t| t.api_version == api_version)
            .collect()
    }

    fn next_resource_version(&mut self) -> String {
        self.last_resource_version += 1;
        self.last_resource_version.to_string()
    }

    pub fn list(&self, index: usize, namespace: Option<&str>, selector: &LabelSelector) -> Value {
        let rt = &self.types[index];
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((t, ns, _), _)| *t == index && namespace.is_none_or(|want| want == ns))
            .map(|(_, object)| object)
            .filter(|object| selector.matches(&labels_of(object)))
            .map(|object| {
                let mut item = object.clone();
                if rt.builtin {
                    if let Some(map) = item.as_object_mut() {
                        map.remove("apiVersion");
                        map.remove("kind");
                    }
                }
                item
            })
            .collect();
        json!({
            "apiVersion": rt.api_version,
            "kind": format!("{}List", rt.kind),
            "metadata": {"resourceVersion": self.last_resource_version.to_string()},
            "items": items,
        })
    }

    pub fn get(&self, index: usize, namespace: &str, name: &str) -> Result<Value, ApiStatus> {
        self.objects
            .get(&(index, namespace.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiStatus::not_found(&self.types[index].qualified(), name))
    }

    pub fn create(
        &mut self,
        index: usize,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiStatus> {
        let rt = self.types[index].clone();
        check_type(&rt, &object)?;
        let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) => name.to_string(),
            None => return Err(ApiStatus::invalid(
                &rt.qualified(),
                "",
                "metadata.name",
                "Required value: name is required (the stand-in does not implement generateName)",
            )),
        };
        if let Some(problem) = dns_subdomain_problem(&name) {
            return Err(ApiStatus::invalid(
                &rt.qualified(),
                &name,
                "metadata.name",
                &problem,
            ));
        }
        check_namespace(&object, namespace)?;
        check_labels(&rt, &name, &object)?;
        let key = (index, namespace.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiStatus::already_exists(&rt.qualified(), &name));
        }
        let resource_version = self.next_resource_version();
        let metadata = metadata_mut(&mut object);
        metadata.insert("namespace".into(), json!(namespace));
        metadata.insert(
            "uid".into(),
            json!(format!(
                "00000000-0000-4000-8000-{:012x}",
                self.last_resource_version
            )),
        );
        metadata.insert("resourceVersion".into(), json!(resource_version));
        metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
        self.objects.insert(key, object.clone());
        Ok(object)
    }

    pub fn replace(
        &mut self,
        index: usize,
        namespace: &str,
        name: &str,
        mut object: Value,
    ) -> Result<Value, ApiStatus> {
        let rt = self.types[index].clone();
        let current = self.get(index, namespace, name)?;
        check_type(&rt, &object)?;
        let body_name = object.pointer("/metadata/name").and_then(Value::as_str);
        if body_name != Some(name) {
            return Err(ApiStatus::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                body_name.unwrap_or("")
            )));
        }
        check_namespace(&object, namespace)?;
        check_labels(&rt, name, &object)?;
        check_resource_version(&rt, name, &current, &object)?;
        let resource_version = self.next_resource_version();
        let metadata = metadata_mut(&mut object);
        for kept in ["uid", "creationTimestamp", "namespace"] {
            if let Some(value) = current.pointer(&format!("/metadata/{kept}")) {
                metadata.insert(kept.into(), value.clone());
            }
        }
        metadata.insert("resourceVersion".into(), json!(resource_version));
        self.objects.insert(
            (index, namespace.to_string(), name.to_string()),
            object.clone(),
        );
        Ok(object)
    }

    pub fn patch(
        &mut self,
        index: usize,
        namespace: &str,
        name: &str,
        kind: PatchKind,
        patch_body: &Value,
    ) -> Result<Value, ApiStatus> {
        let rt = self.types[index].clone();
        let current = self.get(index, namespace, name)?;
        if !patch_body.is_object() {
            return Err(ApiStatus::bad_request(
                "a merge patch body must be a JSON object".to_string(),
            ));
        }
        check_resource_version(&rt, name, &current, patch_body)?;
        let mut patched = current.clone();
        patch::apply(kind, &mut patched, patch_body).map_err(ApiStatus::unsupported_media_type)?;
        for immutable in ["name", "namespace", "uid"] {
            let pointer = format!("/metadata/{immutable}");
            if patched.pointer(&pointer) != current.pointer(&pointer) {
                return Err(ApiStatus::invalid(
                    &rt.qualified(),
                    name,
                    &format!("metadata.{immutable}"),
                    "field is immutable",
                ));
            }
        }
        check_type(&rt, &patched)?;
        check_labels(&rt, name, &patched)?;
        let resource_version = self.next_resource_version();
        metadata_mut(&mut patched).insert("resourceVersion".into(), json!(resource_version));
        self.objects.insert(
            (index, namespace.to_string(), name.to_string()),
            patched.clone(),
        );
        Ok(patched)
    }

    /// Removes the object at once (no kubelet or finalizers here) and returns it as the API
    /// server does when deletion starts: with `deletionTimestamp` set.
    pub fn delete(
        &mut self,
        index: usize,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiStatus> {
        let rt = self.types[index].clone();
        let mut current = self.get(index, namespace, name)?;
        let recorded = |field: &str| {
            current
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if let Some(uid) = &options.precondition_uid {
            let recorded_uid = recorded("uid");
            if *uid != recorded_uid {
                return Err(ApiStatus::conflict(
                    &rt.qualified(),
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: \
                         {recorded_uid}"
                    ),
                ));
            }
        }
        if let Some(version) = &options.precondition_resource_version {
            let recorded_version = recorded("resourceVersion");
            if *version != recorded_version {
                return Err(ApiStatus::conflict(
                    &rt.qualified(),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {version}, \
                         ResourceVersion in object meta: {recorded_version}"
                    ),
                ));
            }
        }
        self.objects
            .remove(&(index, namespace.to_string(), name.to_string()));
        let metadata = metadata_mut(&mut current);
        metadata.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        if let Some(grace) = options.grace_period_seconds {
            metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
        }
        Ok(current)
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    let map = object
        .as_object_mut()
        .expect("objects are checked to be JSON objects before metadata is set");
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub(crate) fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn check_type(rt: &ResourceType, object: &Value) -> Result<(), ApiStatus> {
    if !object.is_object() {
        return Err(ApiStatus::bad_request(
            "the request body must be a JSON object".to_string(),
        ));
    }
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind = object.get("kind").and_then(Value::as_str);
    if api_version != Some(rt.api_version.as_str()) || kind != Some(rt.kind.as_str()) {
        return Err(ApiStatus::bad_request(format!(
            "the object's apiVersion {:?} and kind {:?} do not match the resource \
             ({} {})",
            api_version.unwrap_or(""),
            kind.unwrap_or(""),
            rt.api_version,
            rt.kind
        )));
    }
    Ok(())
}

fn check_namespace(object: &Value, namespace: &str) -> Result<(), ApiStatus> {
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(given) if given != namespace => Err(ApiStatus::bad_request(
            "the namespace of the provided object does not match the namespace sent on the \
             request"
                .to_string(),
        )),
        _ => Ok(()),
    }
}

fn check_labels(rt: &ResourceType, name: &str, object: &Value) -> Result<(), ApiStatus> {
    let Some(labels) = object.pointer("/metadata/labels") else {
        return Ok(());
    };
    let Some(labels) = labels.as_object() else {
        return Err(ApiStatus::invalid(
            &rt.qualified(),
            name,
            "metadata.labels",
            "must be a map of strings",
        ));
    };
    for (key, value) in labels {
        if let Some(problem) = label_key_problem(key) {
            return Err(ApiStatus::invalid(
                &rt.qualified(),
                name,
                "metadata.labels",
                &format!("Invalid value: {key:?}: {problem}"),
            ));
        }
        let problem = match value.as_str() {
            Some(text) => label_value_problem(text),
            None => Some("must be a string".to_string()),
        };
        if let Some(problem) = problem {
            return Err(ApiStatus::invalid(
                &rt.qualified(),
                name,
                &format!("metadata.labels[{key}]"),
                &format!("Invalid value: {value}: {problem}"),
            ));
        }
    }
    Ok(())
}

/// A body that names a resourceVersion must name the current one.
fn check_resource_version(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    body: &Value,
) -> Result<(), ApiStatus> {
    let Some(given) = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    if current
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        == Some(given)
    {
        Ok(())
    } else {
        Err(ApiStatus::conflict(
            &rt.qualified(),
            name,
            "the object has been modified; please apply your changes to the latest version \
             and try again",
        ))
    }
}
