//! The objects isolation creates (the pod label, a deny-all NetworkPolicy, the plugins' own
//! deny policies), their names, and which other NetworkPolicies keep traffic flowing.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::core::{ApiResource, DynamicObject};
use serde_json::json;

use crate::precheck::NetworkPlugin;
use crate::selector::{evaluate, Selection};

/// The pod label isolation sets; its value is the pod's isolation id, so each kdr policy
/// selects exactly one pod.
pub const ISOLATION_LABEL: &str = "kdr.io/isolated";
/// The annotation on kdr's policies naming the isolated pod in full.
pub const POD_ANNOTATION: &str = "kdr.io/pod";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY: &str = "kdr";
const POLICY_PREFIX: &str = "kdr-isolate-";
/// Longest policy name kdr creates: the strictest name rule among the policy kinds it uses.
const MAX_POLICY_NAME: usize = 63;
/// Longest isolation id: what fits after the prefix in a policy name.
const MAX_ID: usize = MAX_POLICY_NAME - POLICY_PREFIX.len();
const HASH_HEX_DIGITS: usize = 10;

/// The pod's isolation id: its name when that fits and has no dot (Calico reads dots in
/// policy names as tier separators), else a cut of it plus a hash of the full name.
pub fn isolation_id(pod: &str) -> String {
    if pod.len() <= MAX_ID && !pod.contains('.') {
        return pod.to_string();
    }
    let keep = MAX_ID - 1 - HASH_HEX_DIGITS;
    let cut: String = pod
        .chars()
        .take(keep)
        .map(|c| if c == '.' { '-' } else { c })
        .collect();
    let hash = format!("{:016x}", fnv1a64(pod.as_bytes()));
    format!("{}-{}", cut.trim_end_matches('-'), &hash[..HASH_HEX_DIGITS])
}

/// FNV-1a: stable across releases, so release finds the names isolate chose.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `kdr-isolate-<id>`, at most 63 characters.
pub fn policy_name(pod: &str) -> String {
    format!("{POLICY_PREFIX}{}", isolation_id(pod))
}

fn policy_labels(id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        (ISOLATION_LABEL.to_string(), id.to_string()),
    ])
}

fn pod_annotation(pod: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(POD_ANNOTATION.to_string(), pod.to_string())])
}

/// The Kubernetes policy: selects the pod by its isolation label, has both policy types and
/// no rules, so it allows nothing in either direction.
pub fn isolation_policy(namespace: &str, pod: &str) -> NetworkPolicy {
    let id = isolation_id(pod);
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(policy_name(pod)),
            namespace: Some(namespace.to_string()),
            labels: Some(policy_labels(&id)),
            annotations: Some(pod_annotation(pod)),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(ISOLATION_LABEL.to_string(), id)])),
                match_expressions: None,
            }),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: None,
            egress: None,
        }),
    }
}

/// The plugins whose own policies can deny what Kubernetes policies allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyKind {
    Calico,
    Cilium,
}

impl DenyKind {
    pub fn plugin(self) -> NetworkPlugin {
        match self {
            DenyKind::Calico => NetworkPlugin::Calico,
            DenyKind::Cilium => NetworkPlugin::Cilium,
        }
    }
}

/// A plugin's own policy kind that can deny traffic other policies allow.
#[derive(Debug, Clone, Copy)]
pub struct PluginPolicyApi {
    pub deny: DenyKind,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Calico's CRDs store default-tier policies under `default.<name>`.
    pub name_prefix: &'static str,
}

/// In order of preference per plugin: Calico's API server before its CRDs (the supported
/// way to write Calico policy when both exist).
pub const PLUGIN_POLICY_APIS: [PluginPolicyApi; 3] = [
    PluginPolicyApi {
        deny: DenyKind::Calico,
        group: "projectcalico.org",
        version: "v3",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        name_prefix: "",
    },
    PluginPolicyApi {
        deny: DenyKind::Calico,
        group: "crd.projectcalico.org",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        name_prefix: "default.",
    },
    PluginPolicyApi {
        deny: DenyKind::Cilium,
        group: "cilium.io",
        version: "v2",
        kind: "CiliumNetworkPolicy",
        plural: "ciliumnetworkpolicies",
        name_prefix: "",
    },
];

/// Calico evaluates lower orders first; Kubernetes policies get 1000 in the same (default)
/// tier, so kdr's deny at 0 is decided before any of them.
const CALICO_ORDER: u32 = 0;

impl PluginPolicyApi {
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    pub fn resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }

    pub fn object_name(&self, pod: &str) -> String {
        format!("{}{}", self.name_prefix, policy_name(pod))
    }

    /// `Calico NetworkPolicy (projectcalico.org/v3) shop/kdr-isolate-web`
    pub fn describe(&self, namespace: &str, pod: &str) -> String {
        format!(
            "{} {} ({}) {namespace}/{}",
            self.deny.plugin(),
            self.kind,
            self.api_version(),
            self.object_name(pod)
        )
    }

    /// The full object: deny every ingress and egress of the pod's isolation label, ahead of
    /// what other policies allow.
    pub fn deny_policy(&self, namespace: &str, pod: &str) -> DynamicObject {
        let id = isolation_id(pod);
        let spec = match self.deny {
            DenyKind::Calico => json!({
                "tier": "default",
                "order": CALICO_ORDER,
                "selector": format!("{ISOLATION_LABEL} == '{id}'"),
                "types": ["Ingress", "Egress"],
                "ingress": [{"action": "Deny"}],
                "egress": [{"action": "Deny"}],
            }),
            DenyKind::Cilium => json!({
                "endpointSelector": {"matchLabels": {ISOLATION_LABEL: id}},
                "ingressDeny": [{"fromEntities": ["all"]}],
                "egressDeny": [{"toEntities": ["all"]}],
            }),
        };
        let mut object = DynamicObject::new(&self.object_name(pod), &self.resource())
            .within(namespace)
            .data(json!({ "spec": spec }));
        object.metadata.labels = Some(policy_labels(&id));
        object.metadata.annotations = Some(pod_annotation(pod));
        object
    }
}

/// Why another NetworkPolicy keeps traffic of the pod flowing, or `None` when it does not
/// select the pod or allows nothing.
pub fn allowance(policy: &NetworkPolicy, pod_labels: &BTreeMap<String, String>) -> Option<String> {
    let name = policy.metadata.name.as_deref().unwrap_or("");
    let spec = policy.spec.as_ref()?;
    let selection = evaluate(spec.pod_selector.as_ref(), pod_labels);
    if selection == Selection::DoesNotSelect {
        return None;
    }
    let ingress_rules = spec.ingress.as_ref().map_or(0, Vec::len);
    let egress_rules = spec.egress.as_ref().map_or(0, Vec::len);
    // Without policyTypes a policy is an Ingress policy, and an Egress one too when it has
    // egress rules (the API server's defaulting).
    let (ingress_type, egress_type) = match &spec.policy_types {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (true, egress_rules > 0),
    };
    let mut allowed = Vec::new();
    if ingress_type && ingress_rules > 0 {
        allowed.push(format!(
            "ingress ({ingress_rules} {})",
            rules(ingress_rules)
        ));
    }
    if egress_type && egress_rules > 0 {
        allowed.push(format!("egress ({egress_rules} {})", rules(egress_rules)));
    }
    if allowed.is_empty() {
        return None;
    }
    let selects = match selection {
        Selection::Unknown(operator) => format!(
            "may select the pod (its selector uses the operator {operator:?}, which kdr cannot \
             evaluate)"
        ),
        _ => "selects the pod".to_string(),
    };
    Some(format!(
        "NetworkPolicy {name} {selects} and allows {}",
        allowed.join(" and ")
    ))
}

fn rules(count: usize) -> &'static str {
    if count == 1 {
        "rule"
    } else {
        "rules"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule};

    #[test]
    fn short_names_are_used_as_they_are() {
        assert_eq!(isolation_id("web-7d4b9c6f5-abcde"), "web-7d4b9c6f5-abcde");
        assert_eq!(policy_name("web-1"), "kdr-isolate-web-1");
    }

    #[test]
    fn long_or_dotted_names_are_cut_and_hashed_to_fit_63() {
        let long = format!("{}-x", "a".repeat(250));
        let name = policy_name(&long);
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.starts_with("kdr-isolate-aaaa"));
        assert_ne!(policy_name(&format!("{}-y", "a".repeat(250))), name);

        let dotted = isolation_id("web.v1");
        assert!(dotted.starts_with("web-v1-"), "{dotted}");
        assert_ne!(dotted, isolation_id("web-v1"));
        assert!(!dotted.contains('.'));
        // A cut ending at a dash still ends the label value with the hash.
        let cut_at_dash = isolation_id(&format!("{}-{}", "b".repeat(39), "c".repeat(30)));
        assert!(!cut_at_dash.contains("--"), "{cut_at_dash}");
    }

    fn policy(
        selector: Option<LabelSelector>,
        types: Option<&[&str]>,
        ingress: usize,
        egress: usize,
    ) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("other".into()),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: selector,
                policy_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
                ingress: Some(vec![NetworkPolicyIngressRule::default(); ingress]),
                egress: Some(vec![NetworkPolicyEgressRule::default(); egress]),
            }),
        }
    }

    #[test]
    fn allowances_follow_policy_types_and_their_defaulting() {
        let pod = BTreeMap::from([("app".to_string(), "web".to_string())]);
        assert_eq!(
            allowance(&policy(None, None, 1, 2), &pod).as_deref(),
            Some("NetworkPolicy other selects the pod and allows ingress (1 rule) and egress (2 rules)")
        );
        assert_eq!(
            allowance(&policy(None, Some(&["Ingress"]), 0, 3), &pod),
            None,
            "egress rules of an Ingress-only policy are not in force"
        );
        assert_eq!(
            allowance(&policy(None, Some(&["Ingress", "Egress"]), 0, 0), &pod),
            None
        );
        let other_app = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "db".to_string())])),
            match_expressions: None,
        };
        assert_eq!(allowance(&policy(Some(other_app), None, 1, 0), &pod), None);
    }
}
