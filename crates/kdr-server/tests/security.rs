//! The server over real HTTP on loopback: authentication, permissions, CSRF, the login rate
//! limit, security headers, and the audit webhook feeding detection and the store.

mod support;

use serde_json::{json, Value};

use support::{privileged_pod_event_list, Server};

/// Every API route, with a method it answers to.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/logout"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/bulk"),
    ("GET", "/api/v1/alerts/x"),
    ("POST", "/api/v1/alerts/x/status"),
    ("POST", "/api/v1/alerts/x/assign"),
    ("POST", "/api/v1/alerts/x/comments"),
    ("GET", "/api/v1/incidents"),
    ("GET", "/api/v1/incidents/x"),
    ("POST", "/api/v1/incidents/x/status"),
    ("POST", "/api/v1/incidents/x/assign"),
    ("POST", "/api/v1/hunt"),
    ("GET", "/api/v1/saved-queries"),
    ("POST", "/api/v1/saved-queries"),
    ("DELETE", "/api/v1/saved-queries/x"),
    ("GET", "/api/v1/catalog"),
    ("GET", "/api/v1/catalog/x"),
    ("GET", "/api/v1/actions"),
    ("POST", "/api/v1/actions"),
    ("GET", "/api/v1/actions/x"),
    ("POST", "/api/v1/actions/x/comments"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/x"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/x"),
    ("GET", "/api/v1/audit-trail"),
    ("GET", "/api/v1/stats"),
    ("POST", "/api/v1/audit/webhook"),
    ("POST", "/api/v1/ingest"),
];

#[test]
fn every_endpoint_refuses_callers_without_session_or_token() {
    let server = Server::start();
    for (method, path) in ROUTES {
        let (status, body) = server.request(method, path, None, &[], Some(json!({})));
        assert_eq!(status, 401, "{method} {path} answered {status}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("sign in"),
            "{body}"
        );
        // A made-up token and a made-up session are refused the same way.
        let (status, _) = server.request(
            method,
            path,
            None,
            &[("authorization", "Bearer kdr_0000_1111")],
            Some(json!({})),
        );
        assert_eq!(status, 401, "{method} {path} with a forged token");
        let (status, _) = server.request(
            method,
            path,
            None,
            &[("cookie", "kdr_session=deadbeef")],
            Some(json!({})),
        );
        assert_eq!(status, 401, "{method} {path} with a forged session");
    }
}

#[test]
fn csrf_token_is_required_for_changes_made_with_a_session() {
    let server = Server::start();
    let admin = server.login("admin", support::ADMIN_PASSWORD);
    // Reading needs no CSRF token.
    let (status, _) = server.request("GET", "/api/v1/alerts", Some(&admin.cookie), &[], None);
    assert_eq!(status, 200);
    let body = json!({ "name": "q", "query": "CloudAuditEvents | take 1" });
    let (status, answer) = server.request(
        "POST",
        "/api/v1/saved-queries",
        Some(&admin.cookie),
        &[],
        Some(body.clone()),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("CSRF"));
    let (status, _) = server.request(
        "POST",
        "/api/v1/saved-queries",
        Some(&admin.cookie),
        &[("x-csrf-token", "0".repeat(64).as_str())],
        Some(body.clone()),
    );
    assert_eq!(status, 403, "a wrong CSRF token is refused");
    let (status, _) = server.request(
        "POST",
        "/api/v1/saved-queries",
        Some(&admin.cookie),
        &[("x-csrf-token", admin.csrf.as_str())],
        Some(body),
    );
    assert_eq!(status, 200);
    // Logging out ends the session on the server, not just in the browser.
    let (status, _) = server.request(
        "POST",
        "/api/v1/logout",
        Some(&admin.cookie),
        &[("x-csrf-token", admin.csrf.as_str())],
        Some(json!({})),
    );
    assert_eq!(status, 200);
    let (status, _) = server.request("GET", "/api/v1/alerts", Some(&admin.cookie), &[], None);
    assert_eq!(status, 401);
}

#[test]
fn missing_permissions_are_named() {
    let server = Server::start();
    let admin = server.login("admin", support::ADMIN_PASSWORD);
    server.create_user(&admin, "reader1", "reader");
    let reader = server.login("reader1", support::USER_PASSWORD);
    let action = json!({ "kind": "isolate", "namespace": "default", "pod": "web-1" });
    let (status, body) = server.post(&reader, "/api/v1/actions", action);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["missingPermission"], "Response: manage");
    assert_eq!(
        body["error"],
        "permission \"Response: manage\" is required to isolate a pod"
    );
    let (status, body) = server.post(&reader, "/api/v1/alerts/bulk", json!({ "ids": [] }));
    assert_eq!(
        (status, body["missingPermission"].clone()),
        (403, json!("Alerts: manage"))
    );
    let (status, body) = server.request("GET", "/api/v1/users", Some(&reader.cookie), &[], None);
    assert_eq!(
        (status, body["missingPermission"].clone()),
        (403, json!("Admin"))
    );
    // Reading is allowed.
    let (status, _) = server.request("GET", "/api/v1/alerts", Some(&reader.cookie), &[], None);
    assert_eq!(status, 200);

    // An ingest token can send events and nothing else; admin cannot send events.
    let token = server.create_token(&admin, "ingest");
    let bearer = format!("Bearer {token}");
    let (status, body) = server.request(
        "GET",
        "/api/v1/alerts",
        None,
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(
        (status, body["missingPermission"].clone()),
        (403, json!("Alerts: read"))
    );
    let (status, body) = server.post(&admin, "/api/v1/audit/webhook", json!({}));
    assert_eq!(
        (status, body["missingPermission"].clone()),
        (403, json!("Ingest: write"))
    );

    // Every change above is in the audit trail.
    let (_, trail) = server.request("GET", "/api/v1/audit-trail", Some(&admin.cookie), &[], None);
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["user.create", "token.create", "login"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[test]
fn login_is_rate_limited() {
    let server = Server::start();
    for attempt in 0..5 {
        let (status, _) = server.request(
            "POST",
            "/api/v1/login",
            None,
            &[],
            Some(json!({ "username": "admin", "password": format!("wrong-{attempt}") })),
        );
        assert_eq!(status, 401);
    }
    // Now even the right password is refused for a while, and the answer says how long.
    let response = server.raw(
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({ "username": "admin", "password": support::ADMIN_PASSWORD })),
    );
    assert_eq!(response.status, 429);
    let wait: u64 = response.headers["retry-after"].parse().unwrap();
    assert!((1..=300).contains(&wait), "retry-after {wait}");
    assert!(response.body["error"]
        .as_str()
        .unwrap()
        .contains("too many failed sign-ins"));
}

#[test]
fn console_pages_carry_a_strict_content_security_policy() {
    let server = Server::start();
    for path in ["/", "/console/app.js", "/api/v1/alerts"] {
        let response = server.raw("GET", path, &[], None);
        let csp = &response.headers["content-security-policy"];
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(response.headers["x-frame-options"], "DENY");
        assert_eq!(response.headers["x-content-type-options"], "nosniff");
    }
    // The script never parses server data as HTML.
    let script = server.raw("GET", "/console/app.js", &[], None).text;
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
}

#[test]
fn webhook_batches_are_detected_stored_and_listed_with_markup_kept_as_data() {
    let server = Server::start();
    let admin = server.login("admin", support::ADMIN_PASSWORD);
    let token = server.create_token(&admin, "ingest");
    let bearer = format!("Bearer {token}");
    let xss = "<img src=x onerror=alert(1)>";
    let (status, body) = server.request(
        "POST",
        "/api/v1/audit/webhook",
        None,
        &[("authorization", &bearer)],
        Some(privileged_pod_event_list(xss)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stored"], 1);
    let (_, page) = server.request(
        "GET",
        "/api/v1/alerts?type=K8S_PrivilegedContainer",
        Some(&admin.cookie),
        &[],
        None,
    );
    assert_eq!(page["total"], 1, "{page}");
    let alert = &page["alerts"][0];
    assert_eq!(
        alert["entities"]["pod"], xss,
        "stored and returned as it came"
    );
    // A broken batch is refused with where and why, and counted.
    let (status, body) = server.request(
        "POST",
        "/api/v1/audit/webhook",
        None,
        &[("authorization", &bearer)],
        Some(json!({ "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [{ "kind": "Event", "stage": 7 }] })),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("request body:"),
        "{body}"
    );
    let (_, stats) = server.request("GET", "/api/v1/stats", Some(&admin.cookie), &[], None);
    assert_eq!(stats["ingest"]["batchesRejectedInvalid"], 1, "{stats}");
    assert_eq!(stats["ingest"]["eventsStored"], 1, "{stats}");
    let _: Value = stats;
}
