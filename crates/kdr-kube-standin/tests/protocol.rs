//! The stand-in's REST behaviour seen on the wire (raw HTTP/1.1), and the binary started as a
//! process the way browser tests start it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use kdr_kube_standin::{CustomResourceType, PodSeed, Seed, StandIn, DEFAULT_TOKEN, JOURNAL_PATH};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    code: u16,
    body: Value,
}

/// One request on its own connection; `url` is `http://127.0.0.1:PORT`.
async fn send(
    url: &str,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> Reply {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let (content_type, text) = body.unwrap_or(("application/json", ""));
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    ));
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        code,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

async fn call(url: &str, method: &str, target: &str, body: Option<(&str, &str)>) -> Reply {
    send(url, method, target, Some(DEFAULT_TOKEN), body).await
}

fn seed() -> Seed {
    Seed::new("v1.29.3")
        .custom_resource(CustomResourceType::cilium())
        .pod(PodSeed::new("kube-system", "cilium-1").label("k8s-app", "cilium"))
        .workload("shop", "web-1", &[("app", "web")], "Running")
        .workload("shop", "db-1", &[("app", "db")], "Running")
}

fn assert_status(reply: &Reply, code: u16, reason: &str) {
    assert_eq!(reply.code, code, "{}", reply.body);
    assert_eq!(reply.body["kind"], "Status");
    assert_eq!(reply.body["apiVersion"], "v1");
    assert_eq!(reply.body["status"], "Failure");
    assert_eq!(reply.body["reason"], reason, "{}", reply.body);
    assert_eq!(reply.body["code"], code);
}

#[tokio::test]
async fn requests_without_the_token_are_refused_but_recorded() {
    let standin = StandIn::start(seed()).await.unwrap();
    let reply = send(&standin.url(), "GET", "/version", None, None).await;
    assert_status(&reply, 401, "Unauthorized");
    let wrong = send(&standin.url(), "GET", "/version", Some("x"), None).await;
    assert_eq!(wrong.code, 401);
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test]
async fn version_and_lists_with_label_selectors() {
    let standin = StandIn::start(seed()).await.unwrap();
    let url = standin.url();
    let version = call(&url, "GET", "/version", None).await;
    assert_eq!(version.code, 200);
    assert_eq!(
        (
            &version.body["gitVersion"],
            &version.body["major"],
            &version.body["minor"]
        ),
        (&json!("v1.29.3"), &json!("1"), &json!("29"))
    );

    let all = call(&url, "GET", "/api/v1/pods", None).await;
    assert_eq!(all.body["kind"], "PodList");
    assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    // Built-in list items carry no apiVersion/kind, as the API server sends them.
    assert!(all.body["items"][0].get("kind").is_none());

    let web = call(
        &url,
        "GET",
        "/api/v1/pods?labelSelector=app%20in%20(web%2Ccache)",
        None,
    )
    .await;
    let names: Vec<&str> = web.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1"]);

    let in_shop = call(
        &url,
        "GET",
        "/api/v1/namespaces/shop/pods?labelSelector=app!%3Dweb",
        None,
    )
    .await;
    assert_eq!(in_shop.body["items"][0]["metadata"]["name"], "db-1");
    assert_eq!(in_shop.body["items"].as_array().unwrap().len(), 1);

    let bad = call(
        &url,
        "GET",
        "/api/v1/pods?labelSelector=app%20in%20(web",
        None,
    )
    .await;
    assert_status(&bad, 400, "BadRequest");
    let watch = call(&url, "GET", "/api/v1/pods?watch=true", None).await;
    assert_status(&watch, 400, "BadRequest");
    assert!(watch.body["message"].as_str().unwrap().contains("watch"));
}

#[tokio::test]
async fn missing_objects_and_unknown_paths_are_not_found_statuses() {
    let standin = StandIn::start(seed()).await.unwrap();
    let url = standin.url();
    let missing = call(&url, "GET", "/api/v1/namespaces/shop/pods/nope", None).await;
    assert_status(&missing, 404, "NotFound");
    assert_eq!(missing.body["message"], "pods \"nope\" not found");
    let delete = call(
        &url,
        "DELETE",
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/nope",
        None,
    )
    .await;
    assert_status(&delete, 404, "NotFound");
    assert_eq!(
        delete.body["message"],
        "networkpolicies.networking.k8s.io \"nope\" not found"
    );
    let unserved = call(&url, "GET", "/apis/projectcalico.org/v3", None).await;
    assert_status(&unserved, 404, "NotFound");
    let discovery = call(&url, "GET", "/apis/cilium.io/v2", None).await;
    assert_eq!(
        discovery.body["resources"][0]["name"],
        "ciliumnetworkpolicies"
    );
    let exec = call(
        &url,
        "POST",
        "/api/v1/namespaces/shop/pods/web-1/exec",
        None,
    )
    .await;
    assert_status(&exec, 404, "NotFound");
}

#[tokio::test]
async fn create_twice_is_already_exists_and_replace_checks_the_resource_version() {
    let standin = StandIn::start(seed()).await.unwrap();
    let url = standin.url();
    let path = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies";
    let policy = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    })
    .to_string();
    let created = call(&url, "POST", path, Some(("application/json", &policy))).await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert!(created.body["metadata"]["uid"].is_string());
    let again = call(&url, "POST", path, Some(("application/json", &policy))).await;
    assert_status(&again, 409, "AlreadyExists");
    assert_eq!(
        again.body["message"],
        "networkpolicies.networking.k8s.io \"deny\" already exists"
    );

    let mut stale = created.body.clone();
    stale["metadata"]["resourceVersion"] = json!("999");
    let conflict = call(
        &url,
        "PUT",
        &format!("{path}/deny"),
        Some(("application/json", &stale.to_string())),
    )
    .await;
    assert_status(&conflict, 409, "Conflict");
    let current = call(
        &url,
        "PUT",
        &format!("{path}/deny"),
        Some(("application/json", &created.body.to_string())),
    )
    .await;
    assert_eq!(current.code, 200, "{}", current.body);
    assert_ne!(
        current.body["metadata"]["resourceVersion"],
        created.body["metadata"]["resourceVersion"]
    );

    let wrong_kind =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}).to_string();
    let refused = call(&url, "POST", path, Some(("application/json", &wrong_kind))).await;
    assert_status(&refused, 400, "BadRequest");
}

#[tokio::test]
async fn patches_apply_to_labels_and_refuse_what_the_stand_in_does_not_implement() {
    let standin = StandIn::start(seed()).await.unwrap();
    let url = standin.url();
    let pod = "/api/v1/namespaces/shop/pods/web-1";
    let strategic = call(
        &url,
        "PATCH",
        pod,
        Some((
            "application/strategic-merge-patch+json",
            r#"{"metadata":{"labels":{"a":"1"}}}"#,
        )),
    )
    .await;
    assert_eq!(strategic.code, 200, "{}", strategic.body);
    assert_eq!(
        strategic.body["metadata"]["labels"],
        json!({"app": "web", "a": "1"})
    );
    let merge = call(
        &url,
        "PATCH",
        pod,
        Some((
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":null}}}"#,
        )),
    )
    .await;
    assert_eq!(merge.body["metadata"]["labels"], json!({"app": "web"}));

    let list_merge = call(
        &url,
        "PATCH",
        pod,
        Some((
            "application/strategic-merge-patch+json",
            r#"{"spec":{"containers":[{"name":"x"}]}}"#,
        )),
    )
    .await;
    assert_status(&list_merge, 415, "UnsupportedMediaType");
    let json_patch = call(
        &url,
        "PATCH",
        pod,
        Some(("application/json-patch+json", "[]")),
    )
    .await;
    assert_status(&json_patch, 415, "UnsupportedMediaType");
    let bad_label = call(
        &url,
        "PATCH",
        pod,
        Some((
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":"-bad-"}}}"#,
        )),
    )
    .await;
    assert_status(&bad_label, 422, "Invalid");
    let rename = call(
        &url,
        "PATCH",
        pod,
        Some((
            "application/merge-patch+json",
            r#"{"metadata":{"name":"other"}}"#,
        )),
    )
    .await;
    assert_status(&rename, 422, "Invalid");
    assert_eq!(
        standin.object("v1", "pods", "shop", "web-1").unwrap()["metadata"]["labels"],
        json!({"app": "web"})
    );
}

#[tokio::test]
async fn delete_returns_the_object_and_honours_uid_preconditions() {
    let standin = StandIn::start(seed()).await.unwrap();
    let url = standin.url();
    let pod = "/api/v1/namespaces/shop/pods/web-1";
    let wrong_uid = r#"{"preconditions":{"uid":"not-it"}}"#;
    let conflict = call(&url, "DELETE", pod, Some(("application/json", wrong_uid))).await;
    assert_status(&conflict, 409, "Conflict");
    let uid = standin.object("v1", "pods", "shop", "web-1").unwrap()["metadata"]["uid"].clone();
    let options = json!({"gracePeriodSeconds": 7, "preconditions": {"uid": uid}}).to_string();
    let deleted = call(&url, "DELETE", pod, Some(("application/json", &options))).await;
    assert_eq!(deleted.code, 200, "{}", deleted.body);
    assert_eq!(deleted.body["metadata"]["deletionGracePeriodSeconds"], 7);
    assert!(deleted.body["metadata"]["deletionTimestamp"].is_string());
    assert!(standin.object("v1", "pods", "shop", "web-1").is_none());
    let recorded = standin.requests().pop().unwrap();
    assert_eq!(recorded.method, "DELETE");
    assert_eq!(recorded.json().unwrap()["gracePeriodSeconds"], 7);
}

#[tokio::test]
async fn bad_seeds_say_which_object_is_wrong() {
    let seed = Seed::new("v1.29.3").object(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
    }));
    let err = StandIn::start(seed).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "seed object 0 (Deployment web): apiVersion and kind name no type this stand-in serves"
    );
}

/// Kills the child if the test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_binary_serves_a_seed_file_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/example.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdr-kube-standin"))
        .args(["--seed", seed.to_str().unwrap(), "--kubeconfig-out"])
        .arg(&kubeconfig)
        .args(["--context", "browser"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut running = Running(Some(child));
    let mut first_line = String::new();
    BufReader::new(stdout).read_line(&mut first_line).unwrap();
    let url = first_line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(config.contains(&format!("server: {url}")), "{config}");
    assert!(config.contains("current-context: browser"), "{config}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pods = call(&url, "GET", "/api/v1/namespaces/shop/pods", None).await;
        assert_eq!(pods.body["items"].as_array().unwrap().len(), 2);
        let policy = call(
            &url,
            "GET",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/allow-web",
            None,
        )
        .await;
        assert_eq!(
            policy.body["spec"]["podSelector"]["matchLabels"]["app"],
            "web"
        );
        let journal = send(&url, "GET", JOURNAL_PATH, None, None).await;
        assert_eq!(journal.body["requests"].as_array().unwrap().len(), 2);
        assert_eq!(
            journal.body["requests"][0]["path"],
            "/api/v1/namespaces/shop/pods"
        );
        assert_eq!(journal.body["dropped"], 0);
    });

    let mut child = running.0.take().unwrap();
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    assert!(child.wait().unwrap().success(), "exits cleanly on SIGTERM");
}
