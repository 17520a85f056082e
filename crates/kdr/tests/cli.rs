//! The `kdr` command line as users run it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kdr(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdr"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kdr runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PRIVILEGED_POD: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create","user":{"username":"mallory"},"sourceIPs":["10.0.0.9"],"userAgent":"kubectl/v1.29.0","objectRef":{"resource":"pods","namespace":"default","name":"x","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x","namespace":"default"},"spec":{"containers":[{"name":"c","image":"alpine","securityContext":{"privileged":true}}]}},"requestReceivedTimestamp":"2024-05-01T12:00:00.000000Z","stageTimestamp":"2024-05-01T12:00:00.010000Z"}"#;

#[test]
fn detect_prints_json_alerts_from_stdin() {
    let out = kdr(&["detect", "--output", "json", "-"], Some(PRIVILEGED_POD));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["alertType"], "K8S_PrivilegedContainer");
    assert_eq!(alerts[0]["evidence"][0], "a1");
    assert_eq!(alerts[0]["entities"]["identity"]["name"], "mallory");
}

#[test]
fn immediate_mode_prints_at_once_and_again_with_the_final_count() {
    let second = PRIVILEGED_POD
        .replace(r#""auditID":"a1""#, r#""auditID":"a2""#)
        .replace("12:00:00.010000Z", "12:01:00.010000Z");
    let input = format!("{PRIVILEGED_POD}\n{second}\n");
    let out = kdr(
        &["detect", "--immediate", "--output", "json", "-"],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["count"], 1);
    assert_eq!(alerts[1]["count"], 2);
    assert_eq!(alerts[0]["dedupKey"], alerts[1]["dedupKey"]);

    let batch = kdr(&["detect", "--output", "json", "-"], Some(&input));
    let lines: Vec<String> = text(&batch.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(r#""count":2"#));
}

#[test]
fn malformed_records_are_reported_with_place_and_processing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let bad_type = PRIVILEGED_POD.replace(r#""verb":"create""#, r#""verb":7"#);
    std::fs::write(
        &path,
        format!("{{\"kind\": \"Ev\n{bad_type}\n{PRIVILEGED_POD}\n"),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let out = kdr(&["detect", "--output", "json", path], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{path}:1:")), "{stderr}");
    assert!(
        stderr.contains(&format!("{path}:2:")) && stderr.contains("verb"),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "the good record still alerts"
    );

    let strict = kdr(&["detect", "--strict", "--output", "json", path], None);
    assert_eq!(strict.status.code(), Some(2));
    assert_eq!(text(&strict.stdout).lines().count(), 0);
}

#[test]
fn catalog_lists_every_alert_type_with_aliases() {
    let out = kdr(&["catalog", "--json"], None);
    assert!(out.status.success());
    let catalog: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(catalog.len() >= 69, "{}", catalog.len());
    let ssh = catalog
        .iter()
        .find(|e| e["id"] == "K8S.NODE_ContainerSSH")
        .unwrap();
    assert_eq!(ssh["aliases"][0], "VM_ContainerSSH");
    assert!(ssh["techniques"].as_array().is_some());
    for id in ["K8S_ContainerDiscovery", "K8S.NODE_ContainerDiscovery"] {
        let entry = catalog.iter().find(|e| e["id"] == id).unwrap();
        let mitigations = entry["mitigations"].to_string();
        for m in ["M1030", "M1035", "M1018"] {
            assert!(mitigations.contains(m), "{id} lacks {m}");
        }
    }
}

#[test]
fn user_rules_extend_override_and_disable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.yaml"),
        "- rule: Privileged container declared\n  enabled: false\n\
         - rule: Alpine anywhere\n  alert: VM_ContainerSSH\n  source: k8s_audit\n  condition: ka.req.pod.containers.image = alpine\n  reason: alpine by %ka.user.name\n",
    )
    .unwrap();
    let rules = dir.path().to_str().unwrap();
    let out = kdr(
        &["detect", "--output", "json", "--rules", rules, "-"],
        Some(PRIVILEGED_POD),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // The deprecated alias resolves to its replacement.
    assert_eq!(alerts[0]["alertType"], "K8S.NODE_ContainerSSH");
    assert_eq!(alerts[0]["reason"], "alpine by mallory");
}

#[test]
fn rules_check_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "- rule: Broken\n  alert: K8S_PrivilegedContainer\n  source: k8s_audit\n  condition: ka.verb = create and ka.nosuch = 1\n",
    )
    .unwrap();
    let out = kdr(&["rules", "check", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:4:35: unknown field `ka.nosuch`",
            file.display()
        )),
        "{stderr}"
    );
    let ok = kdr(&["rules", "check"], None);
    assert!(ok.status.success());
}

#[test]
fn bad_intel_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("intel.txt");
    std::fs::write(&file, "198.51.100.7 proxy\n198.51.100.8 botnet\n").unwrap();
    let out = kdr(
        &["detect", "--intel", file.to_str().unwrap(), "-"],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("intel.txt:2: unknown category"),
        "{}",
        text(&out.stderr)
    );
}
