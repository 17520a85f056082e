//! "Go hunt": the hunting queries (KQL) that show what happened around a set of alerts.

use kdr_model::{Alert, Timestamp};

/// The queries "go hunt" runs for an incident's (or any) alerts: the process events of their
/// containers and pods, and the audit activity of their identities and pods, from an hour
/// before the first to an hour after the last. Empty when the alerts name none of those.
pub fn hunt_queries<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Vec<String> {
    let mut containers = Vec::new();
    let mut pods = Vec::new();
    let mut identities = Vec::new();
    let mut first = i64::MAX;
    let mut last = i64::MIN;
    for alert in alerts {
        let entities = &alert.entities;
        if let Some(id) = entities.container.as_ref().and_then(|c| c.id.clone()) {
            containers.push(id);
        }
        if let (Some(ns), Some(pod)) = (&entities.namespace, &entities.pod) {
            pods.push((ns.clone(), pod.clone()));
        }
        if let Some(identity) = &entities.identity {
            identities.push(identity.name.clone());
        }
        first = first.min(alert.start_time.0);
        last = last.max(alert.end_time.0);
    }
    containers.sort();
    containers.dedup();
    pods.sort();
    pods.dedup();
    identities.sort();
    identities.dedup();
    // An hour either side of the incident, where the lead-up and aftermath are.
    let hour = 3_600 * kdr_model::NANOS_PER_SEC;
    let window = format!(
        "Timestamp between (datetime({}) .. datetime({}))",
        Timestamp(first.saturating_sub(hour)),
        Timestamp(last.saturating_add(hour))
    );
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| serde_json::to_string(i).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pod_names: Vec<String> = pods.iter().map(|(_, p)| p.clone()).collect();
    let namespaces: Vec<String> = pods.iter().map(|(n, _)| n.clone()).collect();
    let mut queries = Vec::new();
    let mut process_match = Vec::new();
    if !containers.is_empty() {
        process_match.push(format!("ContainerId in ({})", list(&containers)));
    }
    if !pods.is_empty() {
        process_match.push(format!(
            "(KubernetesPodName in ({}) and KubernetesNamespace in ({}))",
            list(&pod_names),
            list(&namespaces)
        ));
    }
    if !process_match.is_empty() {
        queries.push(format!(
            "CloudProcessEvents | where {window} and ({}) | order by Timestamp asc",
            process_match.join(" or ")
        ));
    }
    let mut audit_match = Vec::new();
    if !identities.is_empty() {
        audit_match.push(format!("UserName in ({})", list(&identities)));
    }
    if !pods.is_empty() {
        audit_match.push(format!(
            "tostring(RawEventData.objectRef.name) in ({})",
            list(&pod_names)
        ));
    }
    if !audit_match.is_empty() {
        queries.push(format!(
            "CloudAuditEvents | where {window} and ({}) | order by Timestamp asc",
            audit_match.join(" or ")
        ));
    }
    queries
}
