//! kdr-respond's actions against the Kubernetes API stand-in: the exact requests and bodies,
//! every pre-check failure, idempotency, partial and complete isolation, several contexts.

mod common;

use common::{azure_cluster, calico_pod, Cluster, AZURE_NPM, CALICO, CILIUM};
use kdr_kube_standin::{write_kubeconfig, CustomResourceType, PodSeed, Seed, StandIn};
use kdr_respond::{
    kubeconfig_contexts, ActionFailure, ActionOutcome, ActionStatus, ClusterSource, Responder,
};
use serde_json::{json, Value};

fn failure(outcome: &ActionOutcome) -> &ActionFailure {
    assert_eq!(outcome.status, ActionStatus::Failed, "{outcome:#?}");
    outcome
        .error
        .as_ref()
        .expect("a failed outcome has an error")
}

fn has_detail(outcome: &ActionOutcome, text: &str) -> bool {
    outcome.details.iter().any(|d| d.contains(text))
}

fn kdr_policy_json() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "kdr-isolate-web-1",
            "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "kdr", "kdr.io/isolated": "web-1"},
            "annotations": {"kdr.io/pod": "web-1"},
        },
        "spec": {
            "podSelector": {"matchLabels": {"kdr.io/isolated": "web-1"}},
            "policyTypes": ["Ingress", "Egress"],
        },
    })
}

#[tokio::test]
async fn isolate_sends_the_exact_policy_and_label_patch() {
    let cluster = Cluster::start(azure_cluster()).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert_eq!(outcome.cluster, "test");
    assert!(outcome.started_at <= outcome.finished_at);

    let writes = cluster.writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    let create = &writes[0];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        (
            "POST",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"
        )
    );
    assert_eq!(create.content_type.as_deref(), Some("application/json"));
    assert_eq!(create.query_param("fieldManager").as_deref(), Some("kdr"));
    assert_eq!(create.json(), Some(kdr_policy_json()));

    let label = &writes[1];
    assert_eq!(
        (label.method.as_str(), label.path.as_str()),
        ("PATCH", "/api/v1/namespaces/shop/pods/web-1")
    );
    assert_eq!(
        label.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        label.json(),
        Some(json!({"metadata": {"labels": {"kdr.io/isolated": "web-1"}}}))
    );

    assert_eq!(
        cluster.take_calls(),
        [
            "GET /version",
            "GET /api/v1/namespaces/kube-system/pods",
            "GET /api/v1/namespaces/calico-system/pods",
            "GET /api/v1/namespaces/shop/pods/web-1",
            "POST /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
            "PATCH /api/v1/namespaces/shop/pods/web-1",
            "GET /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        ]
    );
    assert_eq!(
        cluster.pod_labels("shop", "web-1"),
        json!({"app": "web", "tier": "frontend", "kdr.io/isolated": "web-1"})
    );
    assert!(cluster
        .network_policy("shop", "kdr-isolate-web-1")
        .is_some());
    assert!(has_detail(
        &outcome,
        "Azure NPM 1.5.34 enforces NetworkPolicies"
    ));
    assert!(has_detail(&outcome, "isolation complete"));
}

#[tokio::test]
async fn plugin_pods_are_looked_up_by_their_k8s_app_label() {
    let cluster = Cluster::start(azure_cluster()).await;
    cluster.responder.isolate("shop", "web-1").await;
    let requests = cluster.standin.requests();
    let selectors: Vec<(String, Option<String>)> = requests
        .iter()
        .filter(|r| r.path.ends_with("-system/pods"))
        .map(|r| (r.path.clone(), r.query_param("labelSelector")))
        .collect();
    assert_eq!(
        selectors,
        [
            (
                "/api/v1/namespaces/kube-system/pods".to_string(),
                Some("k8s-app in (azure-npm,calico-node,cilium,aws-node)".to_string())
            ),
            (
                "/api/v1/namespaces/calico-system/pods".to_string(),
                Some("k8s-app in (calico-node)".to_string())
            ),
        ]
    );
}

/// Each pre-check failure: its reason, its exact message, and no change made.
#[tokio::test]
async fn each_precheck_failure_has_a_precise_reason_and_changes_nothing() {
    let workload = |seed: Seed| seed.workload("shop", "web-1", &[("app", "web")], "Running");
    let cases: Vec<(&str, Seed, &str, &str, &str)> = vec![
        (
            "server 1.26",
            workload(Seed::new("v1.26.5-eks-abc").plugin_pod("kube-system", "cilium-1", "cilium", CILIUM)),
            "web-1",
            "ServerVersionTooOld",
            "the cluster runs Kubernetes 1.26 (gitVersion \"v1.26.5-eks-abc\"); isolation needs 1.27 or later",
        ),
        (
            "server 1.26+ by major/minor",
            workload(Seed::new("custom-build").version_parts("1", "26+").plugin_pod("kube-system", "cilium-1", "cilium", CILIUM)),
            "web-1",
            "ServerVersionTooOld",
            "the cluster runs Kubernetes 1.26 (gitVersion \"custom-build\"); isolation needs 1.27 or later",
        ),
        (
            "server version unreadable",
            workload(Seed::new("custom-build").version_parts("one", "x")),
            "web-1",
            "ServerVersionUnreadable",
            "cannot read the cluster's Kubernetes version from GET /version: gitVersion \"custom-build\", major \"one\", minor \"x\"; expected a gitVersion like v1.29.3 or major/minor like 1/27+",
        ),
        (
            "no plugin",
            workload(Seed::new("v1.29.3").pod(PodSeed::new("kube-system", "coredns-1").label("k8s-app", "kube-dns"))),
            "web-1",
            "NoNetworkPolicyPlugin",
            "no NetworkPolicy plugin found: no pod labelled k8s-app in (azure-npm, calico-node, cilium, aws-node) in kube-system and no k8s-app=calico-node pod in calico-system; without an enforcing plugin a NetworkPolicy isolates nothing",
        ),
        (
            "Azure NPM too old",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "azure-npm-1", "azure-npm", "mcr.microsoft.com/containernetworking/azure-npm:v1.5.33")),
            "web-1",
            "PluginTooOld",
            "no NetworkPolicy plugin qualifies: Azure NPM pod kube-system/azure-npm-1 runs mcr.microsoft.com/containernetworking/azure-npm:v1.5.33, version 1.5.33; isolation needs Azure NPM 1.5.34 or later",
        ),
        (
            "Calico too old",
            workload(Seed::new("v1.29.3").pod(calico_pod("calico-system", "docker.io/calico/node:v3.24.0"))),
            "web-1",
            "PluginTooOld",
            "no NetworkPolicy plugin qualifies: Calico pod calico-system/calico-node-a1 runs docker.io/calico/node:v3.24.0, version 3.24.0; isolation needs Calico 3.24.1 or later",
        ),
        (
            "Cilium too old",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "cilium-1", "cilium", "quay.io/cilium/cilium:v1.13.0@sha256:0123")),
            "web-1",
            "PluginTooOld",
            "no NetworkPolicy plugin qualifies: Cilium pod kube-system/cilium-1 runs quay.io/cilium/cilium:v1.13.0@sha256:0123, version 1.13.0; isolation needs Cilium 1.13.1 or later",
        ),
        (
            "AWS VPC CNI too old",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "aws-node-1", "aws-node", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.14.1-eksbuild.1")),
            "web-1",
            "PluginTooOld",
            "no NetworkPolicy plugin qualifies: AWS VPC CNI pod kube-system/aws-node-1 runs 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.14.1-eksbuild.1, version 1.14.1; isolation needs AWS VPC CNI 1.15.1 or later",
        ),
        (
            "unparseable tag",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "cilium-1", "cilium", "quay.io/cilium/cilium:stable")),
            "web-1",
            "PluginVersionUnreadable",
            "no NetworkPolicy plugin qualifies: Cilium pod kube-system/cilium-1 runs quay.io/cilium/cilium:stable, whose tag \"stable\" is not a version (vMAJOR.MINOR.PATCH); cannot tell whether it is 1.13.1 or later",
        ),
        (
            "image without tag",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "azure-npm-1", "azure-npm", "mcr.microsoft.com/containernetworking/azure-npm@sha256:abcd")),
            "web-1",
            "PluginVersionUnreadable",
            "no NetworkPolicy plugin qualifies: Azure NPM pod kube-system/azure-npm-1 runs mcr.microsoft.com/containernetworking/azure-npm@sha256:abcd, which has no tag; cannot tell whether it is 1.5.34 or later",
        ),
        (
            "pod missing",
            workload(Seed::new("v1.29.3").plugin_pod("kube-system", "azure-npm-1", "azure-npm", AZURE_NPM)),
            "web-2",
            "PodNotFound",
            "pod shop/web-2 does not exist; isolation needs it Running",
        ),
        (
            "pod Pending",
            Seed::new("v1.29.3")
                .plugin_pod("kube-system", "azure-npm-1", "azure-npm", AZURE_NPM)
                .workload("shop", "web-1", &[("app", "web")], "Pending"),
            "web-1",
            "PodNotRunning",
            "pod shop/web-1 is Pending; isolation needs it Running",
        ),
        (
            "pod on the host network",
            Seed::new("v1.29.3")
                .plugin_pod("kube-system", "azure-npm-1", "azure-npm", AZURE_NPM)
                .object(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-1", "namespace": "shop"},
                    "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "x:1"}]},
                    "status": {"phase": "Running"},
                })),
            "web-1",
            "PodUsesHostNetwork",
            "pod shop/web-1 runs in the node's network namespace (hostNetwork: true); NetworkPolicies do not apply to such pods, so isolation cannot cut it off (terminate it instead)",
        ),
    ];
    for (case, seed, pod, reason, message) in cases {
        let cluster = Cluster::start(seed).await;
        let outcome = cluster.responder.isolate("shop", pod).await;
        let error = failure(&outcome);
        assert_eq!(
            (error.reason.as_str(), error.message.as_str(), error.code),
            (reason, message, None),
            "case {case}"
        );
        assert!(cluster.writes().is_empty(), "case {case} changed something");
    }
}

#[tokio::test]
async fn major_minor_with_a_plus_pass_when_git_version_is_unreadable() {
    let seed = Seed::new("custom-build")
        .version_parts("1", "27+")
        .plugin_pod("kube-system", "azure-npm-1", "azure-npm", AZURE_NPM)
        .workload("shop", "web-1", &[("app", "web")], "Running");
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert_eq!(
        outcome.details[0],
        "the cluster runs Kubernetes 1.27 (custom-build)"
    );
}

#[tokio::test]
async fn aws_node_with_its_policy_agent_enabled_qualifies() {
    let seed = Seed::new("v1.30.1-eks-1")
        .pod(
            PodSeed::new("kube-system", "aws-node-1")
                .label("k8s-app", "aws-node")
                .container(
                    "aws-node",
                    "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.15.1-eksbuild.1",
                )
                .container_with_args(
                    "aws-eks-nodeagent",
                    "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-network-policy-agent:v1.0.4-eksbuild.1",
                    &["--enable-ipv6=false", "--enable-network-policy=true"],
                ),
        )
        .workload("shop", "web-1", &[("app", "web")], "Running");
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert!(has_detail(
        &outcome,
        "AWS VPC CNI 1.15.1 enforces NetworkPolicies"
    ));
}

#[tokio::test]
async fn invalid_names_are_refused_before_any_request() {
    let cluster = Cluster::start(azure_cluster()).await;
    let outcome = cluster.responder.isolate("shop", "../../secrets/x").await;
    let error = failure(&outcome);
    assert_eq!(error.reason, "InvalidName");
    assert!(error
        .message
        .starts_with("invalid pod name \"../../secrets/x\""));
    let outcome = cluster.responder.terminate("Shop", "web-1", None).await;
    assert!(failure(&outcome)
        .message
        .starts_with("invalid namespace name \"Shop\""));
    assert!(cluster.standin.requests().is_empty());
}

#[tokio::test]
async fn isolating_twice_succeeds_without_changing_anything_the_second_time() {
    let cluster = Cluster::start(azure_cluster()).await;
    let first = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(first.status, ActionStatus::Succeeded);
    cluster.take_calls();

    let second = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(second.status, ActionStatus::Succeeded, "{second:#?}");
    assert!(has_detail(
        &second,
        "NetworkPolicy shop/kdr-isolate-web-1 already exists as kdr creates it"
    ));
    assert!(has_detail(
        &second,
        "pod shop/web-1 already has the label kdr.io/isolated=web-1"
    ));
    let calls = cluster.take_calls();
    assert!(calls
        .contains(&"POST /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies".to_string()));
    assert!(calls.contains(
        &"GET /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/kdr-isolate-web-1"
            .to_string()
    ));
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("PATCH") || c.starts_with("PUT")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_tampered_kdr_policy_is_replaced_with_kdr_s_spec() {
    let mut tampered = kdr_policy_json();
    tampered["spec"]["ingress"] = json!([{}]);
    let cluster = Cluster::start(azure_cluster().object(tampered)).await;
    let stored_version = cluster.network_policy("shop", "kdr-isolate-web-1").unwrap()["metadata"]
        ["resourceVersion"]
        .clone();
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert!(has_detail(
        &outcome,
        "replaced NetworkPolicy shop/kdr-isolate-web-1: it existed with a different spec"
    ));
    let replace = cluster
        .writes()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT replaced the policy");
    let body = replace.json().unwrap();
    assert_eq!(body["spec"], kdr_policy_json()["spec"]);
    assert_eq!(
        body["metadata"]["resourceVersion"], stored_version,
        "optimistic concurrency on the replaced object"
    );
    assert_eq!(
        cluster.network_policy("shop", "kdr-isolate-web-1").unwrap()["spec"],
        kdr_policy_json()["spec"]
    );
}

/// An existing policy that selects the pod and allows ingress keeps the isolation partial
/// when the plugin (Azure NPM) has no deny of its own; non-selecting and allow-nothing
/// policies are not listed.
#[tokio::test]
async fn an_allowing_policy_makes_isolation_partial_and_is_named() {
    let seed = azure_cluster()
        .object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-frontend", "namespace": "shop"},
            "spec": {
                "podSelector": {"matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                ]},
                "ingress": [{"from": [{"namespaceSelector": {}}]}, {"ports": [{"port": 443}]}],
            },
        }))
        .object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-db", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]},
        }))
        .object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }))
        .object(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-dns-egress", "namespace": "other"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
        }));
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Partial, "{outcome:#?}");
    assert_eq!(outcome.allowing_policies, ["allow-frontend"]);
    assert!(has_detail(
        &outcome,
        "NetworkPolicy allow-frontend selects the pod and allows ingress (2 rules)"
    ));
    assert_eq!(
        outcome.details.last().unwrap(),
        "isolation partial: Kubernetes NetworkPolicies add up, so traffic that allow-frontend \
         allow still flows; no plugin deny policy is available to override them"
    );
    assert!(outcome.error.is_none());
    // The deny-all policy and the label are in place all the same.
    assert!(cluster
        .network_policy("shop", "kdr-isolate-web-1")
        .is_some());
    assert_eq!(
        cluster.pod_labels("shop", "web-1")["kdr.io/isolated"],
        "web-1"
    );
}

fn allow_all_web() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-web", "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}],
                 "egress": [{}], "policyTypes": ["Ingress", "Egress"]},
    })
}

fn calico_deny_spec() -> Value {
    json!({
        "tier": "default",
        "order": 0,
        "selector": "kdr.io/isolated == 'web-1'",
        "types": ["Ingress", "Egress"],
        "ingress": [{"action": "Deny"}],
        "egress": [{"action": "Deny"}],
    })
}

fn kdr_metadata(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "kdr", "kdr.io/isolated": "web-1"},
        "annotations": {"kdr.io/pod": "web-1"},
    })
}

#[tokio::test]
async fn calico_deny_makes_isolation_complete_despite_allowing_policies() {
    let seed = Seed::new("v1.29.3")
        .pod(calico_pod("calico-system", CALICO))
        .custom_resource(CustomResourceType::calico_api_server())
        .custom_resource(CustomResourceType::calico_crd())
        .workload("shop", "web-1", &[("app", "web")], "Running")
        .object(allow_all_web());
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert_eq!(outcome.allowing_policies, ["allow-web"]);
    assert_eq!(
        outcome.details.last().unwrap(),
        "isolation complete: Calico NetworkPolicy (projectcalico.org/v3) shop/kdr-isolate-web-1 \
         denies all traffic of the pod ahead of what allow-web allow"
    );
    // The API server's kind is preferred over writing the CRD directly.
    let create = cluster
        .writes()
        .into_iter()
        .find(|r| r.path.starts_with("/apis/projectcalico.org/"))
        .expect("a Calico policy was created");
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        (
            "POST",
            "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies"
        )
    );
    assert_eq!(
        create.json(),
        Some(json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "NetworkPolicy",
            "metadata": kdr_metadata("kdr-isolate-web-1"),
            "spec": calico_deny_spec(),
        }))
    );
    assert!(!cluster
        .writes()
        .iter()
        .any(|r| r.path.contains("crd.projectcalico.org")));
}

#[tokio::test]
async fn calico_without_its_api_server_gets_the_crd_with_the_default_tier_prefix() {
    let seed = Seed::new("v1.29.3")
        .pod(calico_pod("kube-system", CALICO))
        .custom_resource(CustomResourceType::calico_crd())
        .workload("shop", "web-1", &[("app", "web")], "Running")
        .object(allow_all_web());
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    let create = cluster
        .writes()
        .into_iter()
        .find(|r| r.path.contains("projectcalico"))
        .expect("a Calico policy was created");
    assert_eq!(
        create.path,
        "/apis/crd.projectcalico.org/v1/namespaces/shop/networkpolicies"
    );
    assert_eq!(
        create.json(),
        Some(json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "NetworkPolicy",
            "metadata": kdr_metadata("default.kdr-isolate-web-1"),
            "spec": calico_deny_spec(),
        }))
    );
}

#[tokio::test]
async fn calico_without_a_served_policy_api_stays_partial_and_says_why() {
    let seed = Seed::new("v1.29.3")
        .pod(calico_pod("calico-system", CALICO))
        .workload("shop", "web-1", &[("app", "web")], "Running")
        .object(allow_all_web());
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Partial, "{outcome:#?}");
    assert!(has_detail(
        &outcome,
        "Calico runs but its policy API (projectcalico.org/v3 or crd.projectcalico.org/v1) is \
         not served; no Calico deny policy created"
    ));
}

#[tokio::test]
async fn cilium_deny_makes_isolation_complete_despite_allowing_policies() {
    let seed = Seed::new("v1.28.4")
        .plugin_pod("kube-system", "cilium-x2", "cilium", CILIUM)
        .custom_resource(CustomResourceType::cilium())
        .workload("shop", "web-1", &[("app", "web")], "Running")
        .object(allow_all_web());
    let cluster = Cluster::start(seed).await;
    let outcome = cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert_eq!(outcome.allowing_policies, ["allow-web"]);
    let create = cluster
        .writes()
        .into_iter()
        .find(|r| r.path.starts_with("/apis/cilium.io/"))
        .expect("a Cilium policy was created");
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        (
            "POST",
            "/apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies"
        )
    );
    assert_eq!(
        create.json(),
        Some(json!({
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": kdr_metadata("kdr-isolate-web-1"),
            "spec": {
                "endpointSelector": {"matchLabels": {"kdr.io/isolated": "web-1"}},
                "ingressDeny": [{"fromEntities": ["all"]}],
                "egressDeny": [{"toEntities": ["all"]}],
            },
        }))
    );
    // Policies first, label last: the pod is cut off at once when the label lands.
    let order: Vec<String> = cluster
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        order,
        [
            "POST /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
            "POST /apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies",
            "PATCH /api/v1/namespaces/shop/pods/web-1",
        ]
    );
}

#[tokio::test]
async fn release_removes_the_label_and_every_kdr_policy() {
    let seed = Seed::new("v1.29.3")
        .plugin_pod("kube-system", "cilium-x2", "cilium", CILIUM)
        .custom_resource(CustomResourceType::cilium())
        .workload("shop", "web-1", &[("app", "web")], "Running");
    let cluster = Cluster::start(seed).await;
    assert_eq!(
        cluster.responder.isolate("shop", "web-1").await.status,
        ActionStatus::Succeeded
    );
    cluster.take_calls();

    let outcome = cluster.responder.release("shop", "web-1").await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    let writes = cluster.writes();
    let summary: Vec<String> = writes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        summary,
        [
            "PATCH /api/v1/namespaces/shop/pods/web-1",
            "DELETE /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/kdr-isolate-web-1",
            "DELETE /apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies/kdr-isolate-web-1",
        ]
    );
    assert_eq!(
        writes[0].json(),
        Some(json!({"metadata": {"labels": {"kdr.io/isolated": null}}}))
    );
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(cluster.pod_labels("shop", "web-1"), json!({"app": "web"}));
    assert!(cluster
        .network_policy("shop", "kdr-isolate-web-1")
        .is_none());
    assert!(cluster
        .standin
        .object(
            "cilium.io/v2",
            "ciliumnetworkpolicies",
            "shop",
            "kdr-isolate-web-1"
        )
        .is_none());
    assert!(has_detail(
        &outcome,
        "removed the label kdr.io/isolated from pod shop/web-1"
    ));
}

#[tokio::test]
async fn releasing_twice_and_releasing_a_gone_pod_succeed_with_notes() {
    let cluster = Cluster::start(azure_cluster()).await;
    cluster.responder.isolate("shop", "web-1").await;
    assert_eq!(
        cluster.responder.release("shop", "web-1").await.status,
        ActionStatus::Succeeded
    );
    cluster.take_calls();
    let again = cluster.responder.release("shop", "web-1").await;
    assert_eq!(again.status, ActionStatus::Succeeded, "{again:#?}");
    assert!(has_detail(
        &again,
        "pod shop/web-1 has no kdr.io/isolated label"
    ));
    assert!(has_detail(
        &again,
        "NetworkPolicy shop/kdr-isolate-web-1 does not exist"
    ));
    assert!(!cluster.take_calls().iter().any(|c| c.starts_with("PATCH")));

    // Isolated, then deleted by someone else: release still removes the policy.
    cluster.responder.isolate("shop", "web-1").await;
    cluster.responder.terminate("shop", "web-1", Some(0)).await;
    let gone = cluster.responder.release("shop", "web-1").await;
    assert_eq!(gone.status, ActionStatus::Succeeded, "{gone:#?}");
    assert!(has_detail(
        &gone,
        "pod shop/web-1 no longer exists; removing kdr's policies only"
    ));
    assert!(cluster
        .network_policy("shop", "kdr-isolate-web-1")
        .is_none());
}

#[tokio::test]
async fn terminate_deletes_with_the_grace_period_and_the_checked_uid() {
    let cluster = Cluster::start(azure_cluster()).await;
    let uid = cluster
        .standin
        .object("v1", "pods", "shop", "web-1")
        .unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let outcome = cluster.responder.terminate("shop", "web-1", Some(5)).await;
    assert_eq!(outcome.status, ActionStatus::Succeeded, "{outcome:#?}");
    assert_eq!(
        cluster.take_calls(),
        [
            "GET /api/v1/namespaces/shop/pods/web-1",
            "DELETE /api/v1/namespaces/shop/pods/web-1",
        ]
    );
    assert!(cluster
        .standin
        .object("v1", "pods", "shop", "web-1")
        .is_none());
    assert_eq!(
        outcome.details,
        ["deleted pod shop/web-1 (grace period 5s)"]
    );

    // The DeleteOptions body of the request.
    let cluster = Cluster::start(azure_cluster()).await;
    cluster.responder.terminate("shop", "web-1", Some(5)).await;
    let delete = cluster.writes().pop().unwrap();
    assert_eq!(delete.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        delete.json(),
        Some(json!({"gracePeriodSeconds": 5, "preconditions": {"uid": uid}}))
    );

    // Without a grace period the pod's own applies: none is sent.
    let cluster = Cluster::start(azure_cluster()).await;
    let outcome = cluster.responder.terminate("shop", "web-1", None).await;
    assert_eq!(
        outcome.details,
        ["deleted pod shop/web-1 (the pod's own grace period)"]
    );
    assert_eq!(
        cluster.writes().pop().unwrap().json(),
        Some(json!({"preconditions": {"uid": uid}}))
    );
}

#[tokio::test]
async fn terminating_a_deleted_pod_succeeds_and_a_pending_pod_is_refused() {
    let cluster = Cluster::start(azure_cluster()).await;
    cluster.responder.terminate("shop", "web-1", Some(0)).await;
    let again = cluster.responder.terminate("shop", "web-1", Some(0)).await;
    assert_eq!(again.status, ActionStatus::Succeeded, "{again:#?}");
    assert_eq!(
        again.details,
        ["pod shop/web-1 does not exist: nothing to terminate"]
    );

    let pending = cluster.responder.terminate("shop", "job-1", None).await;
    let error = failure(&pending);
    assert_eq!(error.reason, "PodNotRunning");
    assert_eq!(
        error.message,
        "pod shop/job-1 is Pending; termination needs it Running"
    );
}

#[tokio::test]
async fn api_refusals_carry_their_status_code_and_message() {
    let standin = StandIn::start(azure_cluster()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let mut context = standin.context("wrong-token");
    context.token = "not-the-token".to_string();
    write_kubeconfig(&path, &[context]).unwrap();
    let responder = Responder::connect(&ClusterSource::Kubeconfig {
        path: Some(path),
        context: None,
    })
    .await
    .unwrap();
    let outcome = responder.terminate("shop", "web-1", None).await;
    let error = failure(&outcome);
    assert_eq!(error.code, Some(401));
    assert_eq!(error.reason, "Unauthorized");
    assert_eq!(
        error.message,
        "reading pod shop/web-1: the API server answered 401 Unauthorized: Unauthorized"
    );
    assert!(standin.object("v1", "pods", "shop", "web-1").is_some());
}

#[tokio::test]
async fn contexts_choose_between_clusters() {
    let east = StandIn::start(azure_cluster()).await.unwrap();
    let west = StandIn::start(
        Seed::new("v1.30.2")
            .plugin_pod("kube-system", "cilium-1", "cilium", CILIUM)
            .workload("shop", "web-1", &[("app", "web")], "Running")
            .token("west-token"),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &[east.context("east"), west.context("west")]).unwrap();

    let contexts = kubeconfig_contexts(Some(&path)).unwrap();
    assert_eq!(contexts.current.as_deref(), Some("east"));
    assert_eq!(contexts.names, ["east", "west"]);
    assert_eq!(contexts.clusters, ["east", "west"]);
    assert_eq!(contexts.for_cluster("west"), Some("west"));
    assert_eq!(contexts.for_cluster("north"), None);

    let source = |context: &str| ClusterSource::Kubeconfig {
        path: Some(path.clone()),
        context: Some(context.to_string()),
    };
    let on_west = Responder::connect(&source("west"))
        .await
        .unwrap()
        .isolate("shop", "web-1")
        .await;
    assert_eq!(on_west.status, ActionStatus::Succeeded, "{on_west:#?}");
    assert_eq!(on_west.cluster, "west");
    assert!(west
        .object(
            "networking.k8s.io/v1",
            "networkpolicies",
            "shop",
            "kdr-isolate-web-1"
        )
        .is_some());
    assert!(east.requests().is_empty(), "nothing went to east");

    let on_east = Responder::connect(&source("east"))
        .await
        .unwrap()
        .terminate("shop", "web-1", None)
        .await;
    assert_eq!(on_east.cluster, "east");
    assert!(east.object("v1", "pods", "shop", "web-1").is_none());
    assert!(west.object("v1", "pods", "shop", "web-1").is_some());

    let err = Responder::connect(&source("north"))
        .await
        .err()
        .expect("an unknown context is refused");
    assert_eq!(
        err.to_string(),
        format!(
            "kubeconfig {} has no context \"north\" (it has: east, west)",
            path.display()
        )
    );
}

#[tokio::test]
async fn outcomes_serialize_in_camel_case_and_round_trip() {
    let cluster = Cluster::start(azure_cluster()).await;
    let outcome = cluster.responder.terminate("shop", "job-1", None).await;
    let value = serde_json::to_value(&outcome).unwrap();
    assert_eq!(value["action"], "terminate");
    assert_eq!(value["status"], "Failed");
    assert_eq!(value["error"]["reason"], "PodNotRunning");
    assert!(value.get("error").unwrap().get("code").is_none());
    assert!(value["startedAt"].as_str().unwrap().ends_with('Z'));
    assert!(value["finishedAt"].is_string());
    let back: ActionOutcome = serde_json::from_value(value).unwrap();
    assert_eq!(back, outcome);
}
