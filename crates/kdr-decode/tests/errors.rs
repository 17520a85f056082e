//! Bad input gets an error that says what and where.

use kdr_decode::{decode_record, DecodeError, Decoder};

const GOOD: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web-1","verb":"get","user":{"username":"alice","groups":["dev"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-05-01T12:00:00.000000Z","stageTimestamp":"2024-05-01T12:00:00.001000Z"}"#;

fn error_of(record: &str) -> DecodeError {
    let mut out = Vec::new();
    let error = decode_record(record, &mut out).expect_err("record should be rejected");
    assert!(out.is_empty(), "a rejected single record produced events");
    error
}

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn good_record_decodes() {
    let mut out = Vec::new();
    decode_record(GOOD, &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn wrong_type_names_the_field_path() {
    let error = error_of(&with(r#""resource":"pods""#, r#""resource":7"#));
    assert_eq!(error.field.as_deref(), Some("objectRef.resource"));
    assert!(
        error
            .message
            .starts_with("invalid type: integer `7`, expected a string"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("field `objectRef.resource`: invalid type"),
        "{error}"
    );

    let error = error_of(&with(r#""groups":["dev"]"#, r#""groups":["dev",false]"#));
    assert_eq!(error.field.as_deref(), Some("user.groups[1]"));

    let error = error_of(&with(r#""code":200"#, r#""code":"200""#));
    assert_eq!(error.field.as_deref(), Some("responseStatus.code"));

    let error = error_of(&with(
        r#""sourceIPs":["10.0.0.1"]"#,
        r#""sourceIPs":"10.0.0.1""#,
    ));
    assert_eq!(error.field.as_deref(), Some("sourceIPs"));
    assert!(error.message.contains("expected a sequence"), "{error}");
}

#[test]
fn unknown_enum_value_names_the_field() {
    let error = error_of(&with(r#""level":"Metadata""#, r#""level":"Everything""#));
    assert_eq!(error.field.as_deref(), Some("level"));
    assert!(
        error.message.contains("unknown variant `Everything`"),
        "{error}"
    );
}

#[test]
fn missing_required_field() {
    let error = error_of(&with(r#""auditID":"a-1","#, ""));
    assert_eq!(error.field, None);
    assert!(error.message.contains("missing field `auditID`"), "{error}");
    let no_time = with(
        r#","requestReceivedTimestamp":"2024-05-01T12:00:00.000000Z","stageTimestamp":"2024-05-01T12:00:00.001000Z""#,
        "",
    );
    let error = error_of(&no_time);
    assert!(error.message.contains("stageTimestamp"), "{error}");
}

#[test]
fn invalid_timestamp_names_the_field() {
    let error = error_of(&with("2024-05-01T12:00:00.001000Z", "2024-13-01T12:00:00Z"));
    assert_eq!(error.field.as_deref(), Some("stageTimestamp"));
    assert!(error.message.contains("invalid timestamp"), "{error}");
    assert!(error.message.contains("2024-13-01T12:00:00Z"), "{error}");
}

#[test]
fn wrong_api_version_or_kind() {
    let error = error_of(&with("audit.k8s.io/v1", "v1"));
    assert_eq!(error.field.as_deref(), Some("apiVersion"));
    assert!(error.message.contains("audit.k8s.io/v1"), "{error}");
    let list = r#"{"kind":"List","apiVersion":"audit.k8s.io/v1","items":[]}"#;
    let error = error_of(list);
    assert_eq!(error.field.as_deref(), Some("kind"));
}

#[test]
fn unknown_format_says_what_was_expected() {
    let error = error_of(r#"{"hello":"world","n":1}"#);
    assert_eq!(error.field, None);
    assert!(
        error.message.contains(
            "expected a Kubernetes audit Event, EventList, AKS/GKE/EKS envelope, Azure Activity or CloudTrail record"
        ),
        "{error}"
    );
    assert!(error.message.contains(r#""hello", "n""#), "{error}");
    let error = error_of(r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}"#);
    assert!(error.message.contains("(kind \"Pod\")"), "{error}");
    let error = error_of("\"just a string\"");
    assert!(error.message.ends_with("found a string"), "{error}");
    let error = error_of("");
    assert!(error.message.starts_with("empty record"), "{error}");
}

#[test]
fn syntax_errors_are_reported_with_position() {
    let truncated = &GOOD[..GOOD.find("kubectl").unwrap() + 3];
    let error = error_of(truncated);
    assert!(
        error.message.contains("EOF while parsing a string"),
        "{error}"
    );
    // The path to where the input stopped.
    assert_eq!(error.field.as_deref(), Some("userAgent"));

    let error = error_of("{\"kind\":\"Event\",}");
    assert!(error.message.contains("line 1 column"), "{error}");
    let error = error_of(&format!("{GOOD} trailing"));
    assert!(error.message.contains("trailing characters"), "{error}");
    let error = error_of("not json at all");
    assert!(error.message.contains("line 1 column 2"), "{error}");
}

#[test]
fn duplicate_field_is_an_error() {
    let error = error_of(&with(r#""verb":"get""#, r#""verb":"get","verb":"delete""#));
    assert!(error.message.contains("duplicate field `verb`"), "{error}");
}

#[test]
fn oversized_record_is_refused() {
    let mut decoder = Decoder::new().with_max_record_bytes(100);
    let error = decoder.decode(GOOD, &mut Vec::new()).unwrap_err();
    assert!(
        error.message.contains("more than the limit of 100 bytes"),
        "{error}"
    );
    assert_eq!(decoder.stats().rejected, 1);
    assert_eq!(decoder.stats().records, 1);
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = error_of(&deep);
    assert!(!error.message.is_empty());
    let record = format!(
        r#"{},"requestObject":{}1{}}}"#,
        &GOOD[..GOOD.len() - 1],
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    // Bodies are kept raw, so their depth does not matter to the decoder.
    let mut out = Vec::new();
    decode_record(&record, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // So are unknown fields, however deep (serde_json skips them without recursing).
    let record = format!(
        r#"{},"user":{}}}"#,
        &GOOD[..GOOD.len() - 1].replacen(r#""user":{"username":"alice","groups":["dev"]},"#, "", 1),
        "{\"a\":".repeat(5_000) + "1" + &"}".repeat(5_000)
    );
    decode_record(&record, &mut out).unwrap();
    assert_eq!(out.len(), 2);
}

#[test]
fn envelope_item_errors_carry_their_index() {
    let cloudtrail = r#"{"Records":[{"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e1"},{"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e2","userIdentity":{"type":3}}]}"#;
    let mut out = Vec::new();
    let error = decode_record(cloudtrail, &mut out).unwrap_err();
    assert_eq!(out.len(), 1);
    assert_eq!(error.field.as_deref(), Some("Records[1].userIdentity.type"));

    let eks = r#"{"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/c/cluster","logStream":"kube-apiserver-audit-1","logEvents":[{"id":"1","timestamp":1,"message":"{\"kind\":\"Event\",\"verb\":[]}"}]}"#;
    let error = error_of(eks);
    assert_eq!(error.field.as_deref(), Some("logEvents[0].message.verb"));

    let gke = r#"{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"io.k8s.core.v1.pods.get","serviceName":"k8s.io","status":{"code":"seven"}},"insertId":"i","timestamp":"2024-05-01T12:00:00Z"}"#;
    let error = error_of(gke);
    assert_eq!(error.field.as_deref(), Some("protoPayload.status.code"));

    let azure = r#"{"records":[{"category":"Administrative","time":"2024-05-01T12:00:00Z","operationName":{"localizedValue":"x"}}]}"#;
    let error = error_of(azure);
    assert_eq!(error.field.as_deref(), Some("records[0].operationName"));
    assert!(error.message.contains("missing field `value`"), "{error}");

    let activity_time = r#"{"category":"Administrative","time":"12:00","operationName":"op"}"#;
    let error = error_of(activity_time);
    assert_eq!(error.field.as_deref(), Some("time"));
}

#[test]
fn decode_all_reports_every_bad_item() {
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{GOOD},{{"level":"Bad"}},{GOOD},7]}}"#
    );
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    decoder.decode_all(&list, &mut out, &mut errors);
    assert_eq!(out.len(), 2);
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_deref()).collect();
    assert_eq!(fields, [Some("items[1].level"), Some("items[3]")]);
    assert_eq!(decoder.stats().rejected, 2);
}
