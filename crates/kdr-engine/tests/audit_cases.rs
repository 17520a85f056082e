//! Every control-plane rule against recorded audit cases: for each alert type, positive cases
//! (sequences of real-shaped audit events that must raise it, with the words its reason must
//! contain) and negative look-alikes (benign objects, failed requests, Metadata-level events,
//! system components) that must not.
//!
//! Cases live in testdata/audit/cases/<ALERT_ID>.json.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kdr_engine::{AlertEvent, Engine};
use kdr_intel::IndicatorSet;
use kdr_model::{Alert, Event};
use serde::Deserialize;

#[derive(Deserialize)]
struct CaseFile {
    alert: String,
    positive: Vec<Case>,
    negative: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    events: Vec<serde_json::Value>,
    #[serde(default)]
    expect_count: Option<usize>,
    #[serde(default)]
    reason_contains: Vec<String>,
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/audit")
}

/// Rules and intel are compiled once; every case gets a fresh engine (empty state).
fn engine() -> Engine {
    static SHARED: OnceLock<(Arc<kdr_rules::Rules>, IndicatorSet)> = OnceLock::new();
    let (rules, intel) = SHARED.get_or_init(|| {
        let rules = kdr_rules::load(&[]).expect("shipped rules compile");
        let mut intel = IndicatorSet::shipped();
        let text = std::fs::read_to_string(testdata().join("intel-test.txt")).expect("intel file");
        assert!(intel.load("intel-test.txt", &text).is_empty());
        (Arc::new(rules), intel)
    });
    Engine::new(rules.clone(), intel.clone())
}

/// Replays a case from empty state; returns the final (closed) alerts.
fn replay(case: &Case) -> Vec<Alert> {
    let mut engine = engine();
    let mut out = Vec::new();
    let mut decoded: Vec<Event> = Vec::new();
    for (i, raw) in case.events.iter().enumerate() {
        decoded.clear();
        kdr_decode::decode_record(&raw.to_string(), &mut decoded)
            .unwrap_or_else(|e| panic!("case `{}` event {i} does not decode: {e}", case.name));
        for event in &decoded {
            engine.process(event, &mut out);
        }
    }
    engine.flush(&mut out);
    out.into_iter()
        .filter_map(|e| match e {
            AlertEvent::Closed(alert) => Some(alert),
            AlertEvent::Opened(_) => None,
        })
        .collect()
}

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata().join("cases"))
        .expect("testdata/audit/cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_control_plane_alert_has_cases() {
    let rules = kdr_rules::load(&[]).unwrap();
    let covered: Vec<String> = case_files()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let missing: Vec<&str> = rules
        .catalog
        .iter()
        .filter(|t| t.id.starts_with("K8S_"))
        .map(|t| t.id.as_str())
        .filter(|id| !covered.iter().any(|c| c == id))
        .collect();
    assert!(missing.is_empty(), "no cases for {missing:?}");
}

#[test]
fn audit_cases() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in case_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let file: CaseFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            !file.positive.is_empty() && !file.negative.is_empty(),
            "{}",
            file.alert
        );
        for case in &file.positive {
            checked += 1;
            let alerts = replay(case);
            let mine: Vec<&Alert> = alerts
                .iter()
                .filter(|a| a.alert_type == file.alert)
                .collect();
            let raised: u64 = mine.iter().map(|a| a.count).sum();
            let expected = case.expect_count.unwrap_or(1);
            if mine.is_empty()
                || (expected > 0 && raised as usize != expected && mine.len() != expected)
            {
                failures.push(format!(
                    "{} positive `{}`: expected {expected}, got {} alerts (count {raised}); all: {:?}",
                    file.alert,
                    case.name,
                    mine.len(),
                    alerts.iter().map(|a| &a.alert_type).collect::<Vec<_>>()
                ));
                continue;
            }
            for word in &case.reason_contains {
                if !mine.iter().any(|a| a.reason.contains(word.as_str())) {
                    failures.push(format!(
                        "{} positive `{}`: reason lacks `{word}`: {:?}",
                        file.alert,
                        case.name,
                        mine.iter().map(|a| &a.reason).collect::<Vec<_>>()
                    ));
                }
            }
        }
        for case in &file.negative {
            checked += 1;
            let alerts = replay(case);
            let mine: Vec<&Alert> = alerts
                .iter()
                .filter(|a| a.alert_type == file.alert)
                .collect();
            if !mine.is_empty() {
                failures.push(format!(
                    "{} negative `{}` raised: {:?}",
                    file.alert,
                    case.name,
                    mine.iter().map(|a| &a.reason).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn quiet_cluster_raises_nothing() {
    let path = testdata().join("quiet-cluster.jsonl");
    let text = std::fs::read_to_string(&path).expect("quiet-cluster.jsonl");
    let mut engine = engine();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        events.clear();
        kdr_decode::decode_record(line, &mut events)
            .unwrap_or_else(|e| panic!("quiet-cluster.jsonl:{}: {e}", i + 1));
        for event in &events {
            engine.process(event, &mut out);
            count += 1;
        }
    }
    engine.flush(&mut out);
    assert!(count > 1000, "quiet stream too small: {count}");
    let alerts: Vec<String> = out
        .iter()
        .filter_map(|e| match e {
            AlertEvent::Closed(a) => Some(format!("{}: {}", a.alert_type, a.reason)),
            AlertEvent::Opened(_) => None,
        })
        .collect();
    assert!(
        alerts.is_empty(),
        "quiet cluster raised:\n{}",
        alerts.join("\n")
    );
}
