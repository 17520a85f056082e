//! One test group per input format, on samples shaped like the real sources' output.

use kdr_decode::{decode_record, DecodeError, DecodeStats, Decoder, EventReader};
use kdr_model::{AuditLevel, CloudActivity, CloudProvider, Event, KubeAudit, Payload};

const AUDIT: &str = include_str!("data/audit.jsonl");
const EVENT_LIST: &str = include_str!("data/eventlist.jsonl");
const EVENT_LIST_PRETTY: &str = include_str!("data/eventlist-pretty.json");
const AKS: &str = include_str!("data/aks.jsonl");
const GKE: &str = include_str!("data/gke.jsonl");
const EKS: &str = include_str!("data/eks.jsonl");
const AZURE: &str = include_str!("data/azure-activity.jsonl");
const CLOUDTRAIL: &str = include_str!("data/cloudtrail.jsonl");

/// Decodes every line; returns events, errors and counters.
fn decode_lines(text: &str) -> (Vec<Event>, Vec<DecodeError>, DecodeStats) {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        decoder.decode_all(line, &mut events, &mut errors);
    }
    (events, errors, decoder.stats())
}

fn audit(event: &Event) -> &KubeAudit {
    match &event.payload {
        Payload::K8sAudit(audit) => audit,
        other => panic!("expected a k8s audit payload, got {other:?}"),
    }
}

fn cloud(event: &Event) -> &CloudActivity {
    match &event.payload {
        Payload::Cloud(activity) => activity,
        other => panic!("expected a cloud payload, got {other:?}"),
    }
}

fn by_id<'a>(events: &'a [Event], id: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no event {id}"))
}

// --- Kubernetes audit Event lines ------------------------------------------------------------

#[test]
fn audit_lines_decode_every_level_stage_and_resource() {
    let (events, errors, stats) = decode_lines(AUDIT);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 13);
    assert_eq!(
        stats,
        DecodeStats {
            records: 13,
            events: 13,
            rejected: 0,
            skipped: 0,
            lineages_forgotten: 0
        }
    );
    let resources: Vec<&str> = events
        .iter()
        .filter_map(|e| audit(e).object_ref.as_ref().map(|o| o.resource.as_str()))
        .collect();
    for expected in [
        "pods",
        "deployments",
        "services",
        "clusterrolebindings",
        "configmaps",
        "secrets",
        "events",
        "leases",
        "mutatingwebhookconfigurations",
    ] {
        assert!(resources.contains(&expected), "missing {expected}");
    }
    let levels: Vec<AuditLevel> = events.iter().map(|e| audit(e).level).collect();
    for level in [
        AuditLevel::None,
        AuditLevel::Metadata,
        AuditLevel::Request,
        AuditLevel::RequestResponse,
    ] {
        assert!(levels.contains(&level), "missing {level:?}");
    }
    let stages: Vec<&str> = events.iter().map(|e| audit(e).stage.as_str()).collect();
    for stage in [
        "RequestReceived",
        "ResponseStarted",
        "ResponseComplete",
        "Panic",
    ] {
        assert!(stages.contains(&stage), "missing {stage}");
    }
}

#[test]
fn audit_pod_create_fills_every_field() {
    let (events, _, _) = decode_lines(AUDIT);
    let event = by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d01");
    assert_eq!(event.time.to_string(), "2024-05-01T12:00:00.123456Z");
    assert_eq!(event.context.namespace.as_deref(), Some("default"));
    assert_eq!(event.context.pod.as_deref(), Some("web-1"));
    assert_eq!(event.context.identity.as_deref(), Some("kubernetes-admin"));
    assert_eq!(event.context.source_ips, vec!["10.224.0.4"]);
    assert_eq!(event.context.cluster, None);
    let a = audit(event);
    assert_eq!(a.level, AuditLevel::RequestResponse);
    assert_eq!(a.stage, "ResponseComplete");
    assert_eq!(a.verb, "create");
    assert!(a
        .request_uri
        .starts_with("/api/v1/namespaces/default/pods?"));
    assert_eq!(
        a.user.groups,
        vec!["system:masters", "system:authenticated"]
    );
    assert_eq!(
        a.user_agent,
        "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
    );
    let object = a.object_ref.as_ref().unwrap();
    assert_eq!(
        (object.resource.as_str(), object.api_version.as_str()),
        ("pods", "v1")
    );
    assert_eq!(a.response_code, Some(201));
    assert!(!a.failed());
    // Bodies stay raw, byte for byte.
    let request = a.request_object.as_ref().unwrap().get();
    assert!(
        request.starts_with(r#"{"kind":"Pod","apiVersion":"v1""#),
        "{request}"
    );
    assert!(request.contains(r#""privileged":true"#));
    assert!(a
        .response_object
        .as_ref()
        .unwrap()
        .get()
        .contains("Pending"));
    assert_eq!(
        a.annotations[0],
        (
            "authorization.k8s.io/decision".to_owned(),
            "allow".to_owned()
        )
    );
    assert_eq!(a.annotations.len(), 3);
}

#[test]
fn audit_forbidden_request_is_failed_with_403() {
    let (events, _, _) = decode_lines(AUDIT);
    let event = by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d04");
    let a = audit(event);
    assert_eq!(a.response_code, Some(403));
    assert!(a.failed());
    assert_eq!(
        event.context.identity.as_deref(),
        Some("system:serviceaccount:default:web")
    );
    assert_eq!(
        a.user.uid.as_deref(),
        Some("6f1c9d2e-3a3b-4c1d-9e55-0b7f7a1d2c11")
    );
    // Cluster-scoped: no namespace, no pod.
    assert_eq!(event.context.namespace, None);
    assert_eq!(event.context.pod, None);
    assert_eq!(
        a.object_ref.as_ref().unwrap().api_group,
        "rbac.authorization.k8s.io"
    );
}

#[test]
fn audit_metadata_level_has_no_bodies() {
    let (events, _, _) = decode_lines(AUDIT);
    let a = audit(by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d06"));
    assert_eq!(a.level, AuditLevel::Metadata);
    assert!(a.request_object.is_none() && a.response_object.is_none());
    assert_eq!(a.verb, "get");
    assert_eq!(a.object_ref.as_ref().unwrap().resource, "secrets");
}

#[test]
fn audit_exec_subresource_and_impersonation() {
    let (events, _, _) = decode_lines(AUDIT);
    let exec = by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d09");
    let a = audit(exec);
    assert_eq!(a.object_ref.as_ref().unwrap().subresource, "exec");
    assert_eq!(exec.context.pod.as_deref(), Some("web-1"));
    assert_eq!(a.response_code, Some(101));

    let impersonated = by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d0c");
    let a = audit(impersonated);
    assert_eq!(
        a.impersonated_user.as_ref().unwrap().username,
        "system:serviceaccount:kube-system:replicaset-controller"
    );
    assert_eq!(
        impersonated.context.identity.as_deref(),
        Some("kubernetes-admin")
    );
    assert_eq!(impersonated.context.source_ips.len(), 2);
    assert_eq!(a.response_code, Some(404));
}

#[test]
fn audit_request_received_and_panic_stages() {
    let (events, _, _) = decode_lines(AUDIT);
    let received = audit(by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d0a"));
    assert_eq!(received.stage, "RequestReceived");
    assert_eq!(received.response_code, None);
    assert!(received.annotations.is_empty());
    let panic = by_id(&events, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d0b");
    assert_eq!(audit(panic).level, AuditLevel::None);
    assert_eq!(audit(panic).object_ref, None);
    assert_eq!(panic.context.namespace, None);
}

#[test]
fn audit_v1beta1_decodes() {
    let (events, _, _) = decode_lines(AUDIT);
    let event = by_id(&events, "5d4b6e3f-1111-4222-8333-444455556666");
    assert_eq!(event.time.to_string(), "2019-03-04T10:00:00.120Z");
    assert_eq!(audit(event).verb, "list");
    assert_eq!(event.context.namespace.as_deref(), Some("kube-system"));
}

#[test]
fn audit_time_falls_back_to_request_received() {
    let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x1","stage":"RequestReceived","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2024-05-01T12:00:00.000001Z"}"#;
    let mut out = Vec::new();
    decode_record(line, &mut out).unwrap();
    assert_eq!(out[0].time.to_string(), "2024-05-01T12:00:00.000001Z");
}

#[test]
fn audit_tolerates_nulls_escapes_and_key_order() {
    let line = r#"{"user":{"username":"sys\u0074em:admin","groups":null},"stageTimestamp":"2024-05-01T12:00:00Z","auditID":"x2","level":"Metadata","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/pods","objectRef":null,"requestObject":null,"annotations":null,"apiVersion":"audit.k8s.io/v1","kind":"Event"}"#;
    let mut out = Vec::new();
    decode_record(line, &mut out).unwrap();
    let a = audit(&out[0]);
    assert_eq!(a.user.username, "system:admin");
    assert!(a.user.groups.is_empty() && a.object_ref.is_none() && a.request_object.is_none());
}

#[test]
fn default_cluster_applies_only_where_the_record_names_none() {
    let mut decoder = Decoder::new().with_default_cluster("lab");
    let mut out = Vec::new();
    decoder
        .decode(AUDIT.lines().next().unwrap(), &mut out)
        .unwrap();
    decoder
        .decode(AKS.lines().nth(1).unwrap(), &mut out)
        .unwrap();
    assert_eq!(out[0].context.cluster.as_deref(), Some("lab"));
    assert_eq!(out[1].context.cluster.as_deref(), Some("PROD-AKS-01"));
}

// --- EventList --------------------------------------------------------------------------------

#[test]
fn event_list_yields_every_item() {
    let (events, errors, stats) = decode_lines(EVENT_LIST);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.records, 1);
    assert_eq!(stats.events, 4);
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d01",
            "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d02",
            "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d03",
            "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d04"
        ]
    );
    assert_eq!(audit(&events[3]).response_code, Some(403));
}

#[test]
fn pretty_event_list_through_reader() {
    let mut reader = EventReader::new("webhook-batch.json", EVENT_LIST_PRETTY.as_bytes());
    let events: Vec<Event> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(events.len(), 4);
    assert_eq!(
        audit(&events[2]).object_ref.as_ref().unwrap().resource,
        "services"
    );
    // The raw body is kept as written, indentation included.
    assert!(audit(&events[0])
        .request_object
        .as_ref()
        .unwrap()
        .get()
        .contains('\n'));
    assert_eq!(reader.stats().records, 1);
    assert_eq!(reader.stats().events, 4);
}

#[test]
fn event_list_with_a_bad_item_keeps_the_good_ones() {
    let mut value: serde_json::Value = serde_json::from_str(EVENT_LIST).unwrap();
    value["items"][2]["objectRef"]["resource"] = serde_json::json!(5);
    let text = value.to_string();
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    decoder.decode_all(&text, &mut events, &mut errors);
    assert_eq!(events.len(), 3);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].field.as_deref(),
        Some("items[2].objectRef.resource")
    );
    assert!(
        errors[0]
            .message
            .starts_with("invalid type: integer `5`, expected a string"),
        "{}",
        errors[0]
    );
    assert_eq!(decoder.stats().rejected, 1);
    assert_eq!(decoder.stats().events, 3);
}

// --- AKS --------------------------------------------------------------------------------------

#[test]
fn aks_envelope_decodes_audit_and_skips_other_categories() {
    let (events, errors, stats) = decode_lines(AKS);
    assert!(errors.is_empty(), "{errors:?}");
    // Envelope: kube-audit + kube-audit-admin decoded, kube-apiserver + guard skipped;
    // then one single record on its own line.
    assert_eq!(events.len(), 3);
    assert_eq!(stats.skipped, 2);
    assert_eq!(stats.records, 2);
    let first = &events[0];
    assert_eq!(first.id, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d01");
    assert_eq!(first.context.cluster.as_deref(), Some("PROD-AKS-01"));
    assert_eq!(first.context.pod.as_deref(), Some("web-1"));
    assert_eq!(audit(first).verb, "create");
    let coredns = &events[1];
    assert_eq!(audit(coredns).object_ref.as_ref().unwrap().name, "coredns");
    assert_eq!(events[2].id, coredns.id);
}

#[test]
fn aks_error_inside_log_names_the_embedded_field() {
    let record = r#"{"category":"kube-audit","resourceId":"/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerService/managedClusters/c1","time":"2024-05-01T12:00:00Z","properties":{"log":"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"stageTimestamp\":\"not a time\"}","stream":"stdout"}}"#;
    let error = decode_record(record, &mut Vec::new()).unwrap_err();
    assert_eq!(
        error.field.as_deref(),
        Some("properties.log.stageTimestamp")
    );
    assert!(error.message.contains("invalid timestamp"), "{error}");
    let enveloped = format!(r#"{{"records":[{record}]}}"#);
    let error = decode_record(&enveloped, &mut Vec::new()).unwrap_err();
    assert_eq!(
        error.field.as_deref(),
        Some("records[0].properties.log.stageTimestamp")
    );
}

// --- GKE --------------------------------------------------------------------------------------

#[test]
fn gke_entries_map_to_kube_audit() {
    let (events, errors, stats) = decode_lines(GKE);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.events, 7);

    let create = by_id(&events, "a1b2c3d4-0001");
    let a = audit(create);
    assert_eq!(a.verb, "create");
    assert_eq!(a.level, AuditLevel::RequestResponse);
    assert_eq!(a.stage, "ResponseComplete");
    assert_eq!(a.response_code, Some(200));
    assert_eq!(a.request_uri, "/api/v1/namespaces/default/pods/web-1");
    assert_eq!(a.user.username, "alice@example.com");
    assert_eq!(
        a.user_agent,
        "kubectl/v1.29.1 (darwin/arm64) kubernetes/bc401b9"
    );
    assert!(a
        .request_object
        .as_ref()
        .unwrap()
        .get()
        .contains("core.k8s.io/v1.Pod"));
    assert_eq!(create.context.cluster.as_deref(), Some("gke-prod"));
    assert_eq!(create.context.namespace.as_deref(), Some("default"));
    assert_eq!(create.context.pod.as_deref(), Some("web-1"));
    assert_eq!(create.context.source_ips, vec!["203.0.113.50"]);
    assert_eq!(create.time.to_string(), "2024-05-01T12:00:00.123456Z");
    assert_eq!(a.annotations[0].0, "authorization.k8s.io/decision");

    let exec = audit(by_id(&events, "a1b2c3d4-0002"));
    let object = exec.object_ref.as_ref().unwrap();
    assert_eq!(
        (
            object.resource.as_str(),
            object.subresource.as_str(),
            exec.verb.as_str()
        ),
        ("pods", "exec", "create")
    );
    assert_eq!(exec.level, AuditLevel::Metadata);

    let denied = by_id(&events, "a1b2c3d4-0003");
    let a = audit(denied);
    assert_eq!(a.response_code, Some(403));
    assert!(a.failed());
    assert_eq!(a.level, AuditLevel::Request);
    let object = a.object_ref.as_ref().unwrap();
    assert_eq!(object.api_group, "rbac.authorization.k8s.io");
    assert_eq!(object.name, "pwn");
    assert_eq!(denied.context.namespace, None);

    let patch = audit(by_id(&events, "a1b2c3d4-0004"));
    assert_eq!(patch.verb, "patch");
    assert_eq!(patch.object_ref.as_ref().unwrap().api_group, "apps");
    let list = audit(by_id(&events, "a1b2c3d4-0005"));
    assert_eq!(list.verb, "list");
    assert_eq!(list.object_ref.as_ref().unwrap().name, "");
    assert_eq!(
        audit(by_id(&events, "a1b2c3d4-0006")).response_code,
        Some(404)
    );

    let gcp = by_id(&events, "a1b2c3d4-0007");
    let c = cloud(gcp);
    assert_eq!(c.provider, CloudProvider::Gcp);
    assert_eq!(
        c.operation,
        "google.container.v1.ClusterManager.SetLegacyAbac"
    );
    assert_eq!(c.principal_type, "ServiceAccount");
    assert_eq!(c.status, "Succeeded");
}

// --- EKS --------------------------------------------------------------------------------------

#[test]
fn eks_subscription_and_insights() {
    let (events, errors, stats) = decode_lines(EKS);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 3);
    // The control message and the authenticator stream's event.
    assert_eq!(stats.skipped, 2);
    assert_eq!(stats.records, 4);
    for event in &events {
        assert_eq!(event.context.cluster.as_deref(), Some("eks-prod"));
    }
    assert_eq!(events[0].id, "0f7a6a5e-3b6b-4b1e-8d4c-1d2a3b4c5d06");
    assert_eq!(
        audit(&events[1]).object_ref.as_ref().unwrap().resource,
        "leases"
    );
    assert_eq!(audit(&events[2]).response_code, Some(403));
}

#[test]
fn eks_insights_row_with_object_message() {
    let inner = AUDIT.lines().next().unwrap();
    let row = format!(
        r#"{{"@timestamp":"2024-05-01 12:00:00.123","@message":{inner},"@logStream":"kube-apiserver-audit-1","logGroup":"/aws/eks/dev/cluster"}}"#
    );
    let mut out = Vec::new();
    decode_record(&row, &mut out).unwrap();
    assert_eq!(out[0].context.cluster.as_deref(), Some("dev"));
}

// --- Azure Activity ---------------------------------------------------------------------------

#[test]
fn azure_activity_records() {
    let (events, errors, stats) = decode_lines(AZURE);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.events, 3);

    let mi = cloud(&events[0]);
    assert_eq!(mi.provider, CloudProvider::Azure);
    assert_eq!(mi.operation, "MICROSOFT.KEYVAULT/VAULTS/WRITE");
    assert_eq!(mi.principal_id, "11112222-3333-4444-5555-666677778888");
    assert_eq!(mi.principal_type, "ManagedIdentity");
    assert_eq!(mi.status, "Succeeded");
    assert!(mi.resource_id.ends_with("/VAULTS/PROD-KV"));
    assert_eq!(
        events[0].id,
        "c0ffee00-1234-4abc-9def-0123456789ab:Succeeded"
    );
    assert_eq!(events[0].context.source_ips, vec!["20.50.1.7"]);
    assert_eq!(events[0].time.to_string(), "2024-05-01T12:05:00.123456700Z");

    let user = cloud(&events[1]);
    assert_eq!(user.principal_type, "User");
    assert_eq!(user.status, "Failed");
    assert_eq!(events[1].context.cluster.as_deref(), Some("PROD-AKS-01"));

    // The REST shape: {value, localizedValue} fields, top-level claims, eventTimestamp.
    let rest = &events[2];
    let c = cloud(rest);
    assert_eq!(rest.id, "e1e2e3e4-0000-4000-8000-000000000003");
    assert_eq!(c.operation, "Microsoft.Compute/virtualMachines/write");
    assert_eq!(c.status, "Started");
    assert_eq!(c.principal_type, "ManagedIdentity");
    assert_eq!(
        rest.context.identity.as_deref(),
        Some("11112222-3333-4444-5555-666677778888")
    );
    assert_eq!(rest.context.source_ips, vec!["10.224.0.33"]);
    assert_eq!(rest.time.to_string(), "2024-05-01T12:07:00.500Z");
}

// --- CloudTrail -------------------------------------------------------------------------------

#[test]
fn cloudtrail_records() {
    let (events, errors, stats) = decode_lines(CLOUDTRAIL);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.records, 3);
    assert_eq!(stats.events, 5);

    let run = cloud(&events[0]);
    assert_eq!(run.provider, CloudProvider::Aws);
    assert_eq!(run.operation, "ec2.amazonaws.com:RunInstances");
    assert_eq!(
        run.principal_id,
        "arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0abc123def4567890"
    );
    assert_eq!(run.principal_type, "AssumedRole");
    assert_eq!(run.status, "Failed");
    assert_eq!(events[0].id, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    assert_eq!(events[0].context.source_ips, vec!["198.51.100.200"]);
    assert_eq!(events[0].time.to_string(), "2024-05-01T12:10:00Z");

    let get = cloud(&events[1]);
    assert_eq!(get.status, "Succeeded");
    assert_eq!(get.resource_id, "arn:aws:s3:::acme-secrets/prod/db.env");
    assert_eq!(get.principal_type, "IAMUser");

    let service = &events[2];
    assert_eq!(cloud(service).principal_id, "eks.amazonaws.com");
    assert!(service.context.source_ips.is_empty());

    // The single record line and the EventBridge wrapper.
    assert_eq!(events[3].id, events[1].id);
    assert_eq!(events[4].id, events[0].id);
}

// --- kdr's own events ---------------------------------------------------------------------------

#[test]
fn kdr_events_round_trip() {
    let (events, _, _) = decode_lines(&[AUDIT, AZURE].concat());
    for event in &events {
        let json = serde_json::to_string(event).unwrap();
        let mut out = Vec::new();
        decode_record(&json, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(serde_json::to_string(&out[0]).unwrap(), json);
    }
    let runtime = r#"{"id":"node-1:42:7","time":"2024-05-01T12:00:00.5Z","context":{"node":"node-1","pod":"web-1","containerId":"abc"},"payload":{"runtime":{"process":{"pid":42,"exe":"/bin/sh","args":["sh","-c","id"]},"action":{"type":"exec"}}}}"#;
    let mut out = Vec::new();
    decode_record(runtime, &mut out).unwrap();
    assert!(matches!(out[0].payload, Payload::Runtime(_)));
}

#[test]
fn mixed_formats_in_one_stream() {
    let all = [AUDIT, EVENT_LIST, AKS, GKE, EKS, AZURE, CLOUDTRAIL].concat();
    let mut reader = EventReader::new("mixed.jsonl", all.as_bytes());
    let results: Vec<_> = reader.by_ref().collect();
    assert!(results.iter().all(Result::is_ok));
    let stats = reader.stats();
    assert_eq!(stats.events, 13 + 4 + 3 + 7 + 3 + 3 + 5);
    assert_eq!(stats.rejected, 0);
    assert_eq!(stats.skipped, 4);
}

#[test]
fn top_level_array_of_records() {
    let first = AUDIT.lines().next().unwrap();
    let second = CLOUDTRAIL.lines().nth(1).unwrap();
    let text = format!("[{first},{second},{{\"nope\":1}}]");
    let mut out = Vec::new();
    let error = decode_record(&text, &mut out).unwrap_err();
    assert_eq!(out.len(), 2);
    assert_eq!(error.field.as_deref(), Some("[2]"));
    assert!(error.message.starts_with("unrecognized record"));
}

#[test]
fn eks_insights_row_listing_log_group_first() {
    let inner = AUDIT.lines().next().unwrap();
    let row = format!(
        r#"{{"logGroup":"/aws/eks/dev/cluster","@logStream":"kube-apiserver-audit-1","@message":{}}}"#,
        serde_json::to_string(inner).unwrap()
    );
    let mut out = Vec::new();
    decode_record(&row, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].context.cluster.as_deref(), Some("dev"));
    let error = decode_record(r#"{"logGroup":"/aws/eks/dev/cluster"}"#, &mut out).unwrap_err();
    assert!(
        error.message.contains("missing field `logEvents`"),
        "{error}"
    );
}
