//! The web console in a real headless Chromium, against the real `kdr serve` and a Kubernetes
//! API stand-in: sign in, filter the queue, attacker-controlled alert fields shown as text,
//! an incident's graph and entity pane, isolate and release its pod, terminate another pod
//! (each followed in the action center and checked in the stand-in), and a reader refused
//! both in the page and by the API.
//!
//! Chromium is /usr/bin/chromium (scripts/install-deps installs it). Without it the test is
//! skipped with a message on a developer's machine and fails on CI (`CI` set).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::{Browser, LaunchOptions, Tab};
use kdr_kube_standin::{write_kubeconfig, CustomResourceType, PodSeed, Seed, StandIn};
use kdr_respond::{policy_name, ISOLATION_LABEL};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long any one condition in the page may take to come true.
const WAIT: Duration = Duration::from_secs(20);
const ADMIN_PASSWORD: &str = "admin-password-for-browser-tests";
const READER_PASSWORD: &str = "reader-password-for-browser-tests";

/// Attacker-controlled text: one payload runs on an image error, the other as a script, and
/// either sets `window.__xss` if the console ever parses alert fields as HTML.
const IMG_PAYLOAD: &str = r#"<img src=x onerror="window.__xss=1">"#;
const SCRIPT_PAYLOAD: &str = "<script>window.__xss=2</script>";

const ATTACKER_SA: &str = "system:serviceaccount:shop:web";

#[test]
fn console_drives_response_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} is missing; scripts/install-deps installs chromium for the console's \
             browser tests"
        );
        eprintln!(
            "skipping the console's browser test: {CHROMIUM} is missing (scripts/install-deps \
             installs it; on CI this fails)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("audit.jsonl");
    write_audit_stream(&stream);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(cluster_seed())).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &[standin.context("shop-cluster")]).unwrap();

    let store = dir.path().join("store");
    let started = Instant::now();
    // Where the time goes, for a run that is slow or stops.
    let step = |name: &str| {
        eprintln!(
            "console browser test: {name} ({:.1} s)",
            started.elapsed().as_secs_f64()
        )
    };
    let server = Server::start(&store, &stream, &kubeconfig);
    step("kdr serve started");

    let browser = Browser::new(LaunchOptions {
        path: Some(PathBuf::from(CHROMIUM)),
        sandbox: false,
        headless: true,
        window_size: Some((1400, 1000)),
        idle_browser_timeout: Duration::from_secs(180),
        ..LaunchOptions::default()
    })
    .expect("launching headless Chromium");
    let console = Console::open(&browser, &server.url);
    step("Chromium opened the console");

    console.sign_in("admin", ADMIN_PASSWORD);
    let total = console.wait_for_all_alerts(EXPECTED_ALERTS);
    step("signed in, the queue is full");
    filter_queue_by_severity(&console, total);
    attacker_fields_render_as_text(&console);
    step("queue filtered, attacker fields checked");

    let incident = open_web_incident(&console);
    isolate_from_graph(&console, &standin);
    step("isolated web-1");
    release_from_action_center(&console, &standin);
    step("released web-1");
    terminate_from_alert(&console, &standin);
    step("terminated worker-0");
    console.sign_out();

    server.add_reader("reader1", READER_PASSWORD);
    console.sign_in("reader1", READER_PASSWORD);
    reader_is_refused(&console, &standin, &incident);
    step("reader refused");

    // Last, so an injected image has had every chance to fail to load and run its handler.
    assert_eq!(
        console.eval("typeof window.__xss"),
        json!("undefined"),
        "an XSS payload ran"
    );
}

// ---------------------------------------------------------------------------------------------
// The recorded audit stream

/// The alerts the stream raises (checked against `kdr detect` below): the web-1 incident's
/// three (reconnaissance by its service account, privileged pod, host mount), the miner on
/// worker-0, and the penetration tool whose user agent and pod name carry XSS payloads.
const EXPECTED_ALERTS: usize = 5;

struct Actor<'a> {
    name: &'a str,
    groups: &'a [&'a str],
    user_agent: &'a str,
    source_ip: &'a str,
}

/// An audit.k8s.io/v1 Event as the API server logs it, `second` seconds after 10:00 UTC.
fn audit_event(
    second: u32,
    actor: &Actor,
    verb: &str,
    request_uri: &str,
    object_ref: Value,
    code: u16,
    request_object: Option<Value>,
) -> Value {
    let at = format!(
        "2025-03-12T10:{:02}:{:02}.000000Z",
        second / 60,
        second % 60
    );
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": format!("5b0c1f4e-0000-4000-8000-{second:012}"),
        "stage": "ResponseComplete",
        "requestURI": request_uri,
        "verb": verb,
        "user": {"username": actor.name, "groups": actor.groups},
        "sourceIPs": [actor.source_ip],
        "userAgent": actor.user_agent,
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": at,
        "stageTimestamp": at,
    });
    if let Some(object) = request_object {
        event["requestObject"] = object;
    }
    event
}

fn pod_object(namespace: &str, name: &str, container: Value, volumes: Value) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], "volumes": volumes},
    })
}

fn write_audit_stream(path: &Path) {
    let web_sa = Actor {
        name: ATTACKER_SA,
        groups: &[
            "system:serviceaccounts",
            "system:serviceaccounts:shop",
            "system:authenticated",
        ],
        user_agent: "curl/8.5.0",
        source_ip: "10.244.1.23",
    };
    let bob = Actor {
        name: "bob@example.com",
        groups: &["system:authenticated"],
        user_agent: "kubectl/v1.30.4 (linux/amd64) kubernetes/a51b3b7",
        source_ip: "192.0.2.50",
    };
    let hunter_agent = format!("kube-hunter {SCRIPT_PAYLOAD}");
    let hunter = Actor {
        name: "eve",
        groups: &["system:authenticated"],
        user_agent: &hunter_agent,
        source_ip: "198.51.100.9",
    };
    let xss_pod = format!("x{IMG_PAYLOAD}");
    let events = [
        // The stolen token of shop's web service account lists the namespace's secrets...
        audit_event(
            5,
            &web_sa,
            "list",
            "/api/v1/namespaces/shop/secrets",
            json!({"resource": "secrets", "namespace": "shop", "apiVersion": "v1"}),
            200,
            None,
        ),
        // ...creates web-1, privileged with the node's root filesystem mounted...
        audit_event(
            60,
            &web_sa,
            "create",
            "/api/v1/namespaces/shop/pods",
            json!({"resource": "pods", "namespace": "shop", "name": "web-1", "apiVersion": "v1"}),
            201,
            Some(pod_object(
                "shop",
                "web-1",
                json!({
                    "name": "shell", "image": "docker.io/library/alpine:3.19",
                    "securityContext": {"privileged": true},
                    "volumeMounts": [{"name": "host", "mountPath": "/host"}],
                }),
                json!([{"name": "host", "hostPath": {"path": "/"}}]),
            )),
        ),
        // ...and execs into it.
        audit_event(
            120,
            &web_sa,
            "create",
            "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&stdin=true&tty=true",
            json!({"resource": "pods", "namespace": "shop", "name": "web-1",
                   "subresource": "exec", "apiVersion": "v1"}),
            101,
            None,
        ),
        // Someone else starts a miner in worker-0.
        audit_event(
            300,
            &bob,
            "create",
            "/api/v1/namespaces/shop/pods",
            json!({"resource": "pods", "namespace": "shop", "name": "worker-0", "apiVersion": "v1"}),
            201,
            Some(pod_object(
                "shop",
                "worker-0",
                json!({"name": "worker", "image": "xmrig/xmrig:6.21.0"}),
                json!([]),
            )),
        ),
        // A penetration tool whose user agent and pod name are HTML.
        audit_event(
            480,
            &hunter,
            "create",
            "/api/v1/namespaces/lab/pods",
            json!({"resource": "pods", "namespace": "lab", "name": xss_pod, "apiVersion": "v1"}),
            403,
            Some(pod_object(
                "lab",
                &xss_pod,
                json!({"name": "probe", "image": "busybox:1.36"}),
                json!([]),
            )),
        ),
    ];
    let mut file = std::fs::File::create(path).unwrap();
    for event in events {
        writeln!(file, "{event}").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster

/// Kubernetes 1.29 with Cilium 1.15 enforcing NetworkPolicies, and the two pods the alerts
/// are about, Running.
fn cluster_seed() -> Seed {
    Seed::new("v1.29.3")
        .custom_resource(CustomResourceType::cilium())
        .plugin_pod(
            "kube-system",
            "cilium-x7k2p",
            "cilium",
            "quay.io/cilium/cilium:v1.15.6",
        )
        .pod(
            PodSeed::new("shop", "web-1")
                .label("app", "web")
                .container("shell", "docker.io/library/alpine:3.19"),
        )
        .pod(
            PodSeed::new("shop", "worker-0")
                .label("app", "worker")
                .container("worker", "xmrig/xmrig:6.21.0"),
        )
}

fn network_policy(standin: &StandIn, pod: &str) -> Option<Value> {
    standin.object(
        "networking.k8s.io/v1",
        "networkpolicies",
        "shop",
        &policy_name(pod),
    )
}

fn cilium_policy(standin: &StandIn, pod: &str) -> Option<Value> {
    standin.object(
        "cilium.io/v2",
        "ciliumnetworkpolicies",
        "shop",
        &policy_name(pod),
    )
}

fn pod(standin: &StandIn, name: &str) -> Option<Value> {
    standin.object("v1", "pods", "shop", name)
}

/// The requests that changed something (everything but GET), as `METHOD path`.
fn changes(standin: &StandIn) -> Vec<String> {
    standin
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// kdr serve

/// The real `kdr serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
    store: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(store: &Path, replay: &Path, kubeconfig: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kdr"))
            .arg("serve")
            .arg("--store")
            .arg(store)
            .args(["--listen", "127.0.0.1:0", "--replay"])
            .arg(replay)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("KDR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting kdr serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines, received) = mpsc::channel();
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                let _ = lines.send(line);
            }
        });
        let mut server = Server {
            child,
            url: String::new(),
            store: store.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + WAIT;
        while server.url.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("kdr serve: listening on ") {
                        let url = rest.split_whitespace().next().unwrap_or_default();
                        server.url = url.to_string();
                    }
                }
                Err(_) => panic!("kdr serve did not start:\n{}", server.log()),
            }
        }
        server
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `kdr users add NAME --role reader`, the password on standard input, beside the
    /// running server.
    fn add_reader(&self, name: &str, password: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kdr"))
            .args(["users", "add", name, "--role", "reader", "--store"])
            .arg(&self.store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting kdr users add");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kdr users add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the page

struct Console {
    tab: Arc<Tab>,
}

impl Console {
    fn open(browser: &Browser, url: &str) -> Console {
        let tab = browser.new_tab().expect("opening a tab");
        tab.set_default_timeout(WAIT);
        tab.navigate_to(url)
            .and_then(|tab| tab.wait_until_navigated())
            .expect("opening the console");
        Console { tab }
    }

    /// Evaluates a JavaScript expression (awaiting it when it is a promise) and returns its
    /// value through JSON; `undefined` becomes null. A thrown exception fails the test.
    fn eval(&self, expression: &str) -> Value {
        let wrapped = format!(
            "(async () => {{ try {{ return JSON.stringify({{ value: await ({expression}) }}); }} \
             catch (e) {{ return JSON.stringify({{ thrown: String(e && e.stack || e) }}); }} }})()"
        );
        let result = self
            .tab
            .evaluate(&wrapped, true)
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"));
        let text = result
            .value
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("evaluating {expression} gave {result:?}"));
        let mut answer: Value = serde_json::from_str(text).unwrap();
        if let Some(thrown) = answer.get("thrown") {
            panic!("{expression} threw {thrown}");
        }
        answer["value"].take()
    }

    /// Polls `expression` until it is truthy (not null, false, 0 or "") and returns it.
    fn wait_for(&self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.eval(expression);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "waited {WAIT:?} for {what} ({expression}); the page at {} shows:\n{}",
                    self.eval("location.hash"),
                    self.eval("document.body.innerText")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element with a real mouse click at its middle, once it is there.
    fn click(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let clicked = self
                .tab
                .find_element(selector)
                .and_then(|element| element.click().map(|_| ()));
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!(
                    "could not click {selector}: {e}; the page shows:\n{}",
                    self.eval("document.body.innerText")
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Clicks into the field and enters the text as one input (key by key costs the
    /// DevTools connection two round trips per character).
    fn type_into(&self, selector: &str, text: &str) {
        self.click(selector);
        self.tab
            .send_character(text)
            .unwrap_or_else(|e| panic!("typing into {selector}: {e}"));
    }

    fn sign_in(&self, user: &str, password: &str) {
        self.type_into("[data-testid=login-user]", user);
        self.type_into("[data-testid=login-password]", password);
        self.click("[data-testid=login-submit]");
        self.wait_for(
            &format!("{user} to be signed in"),
            &format!(
                "document.querySelector('[data-testid=who]')?.textContent === {}",
                json!(user)
            ),
        );
    }

    fn sign_out(&self) {
        self.click("[data-testid=logout]");
        self.wait_for(
            "the sign-in form",
            "document.querySelector('[data-testid=login-user]')",
        );
    }

    /// Goes to a console route by its address, as a bookmark or typed link would.
    fn go(&self, route: &str) {
        self.eval(&format!("location.hash = {}", json!(route)));
    }

    /// Waits until the queue lists `expected` alerts: the replay feeds detection in the
    /// background, so the first look may come before the store has them all.
    fn wait_for_all_alerts(&self, expected: usize) -> usize {
        self.go("#/alerts");
        let deadline = Instant::now() + WAIT;
        loop {
            // `show` is the console's own router: it fetches and renders the queue again.
            let rows = self.eval(
                "show().then(() => document.querySelectorAll('[data-testid=alert-row]').length)",
            );
            if rows == json!(expected) {
                return expected;
            }
            assert!(
                Instant::now() < deadline,
                "the queue shows {rows} alerts, not {expected}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Each shown alert row as {id, severity, text}.
    fn alert_rows(&self) -> Vec<Value> {
        let rows = self.eval(
            "[...document.querySelectorAll('[data-testid=alert-row]')].map((row) => ({ \
               id: row.dataset.id, severity: row.querySelector('.sev').textContent, \
               text: row.textContent }))",
        );
        rows.as_array().unwrap().clone()
    }

    /// The action center's row of this kind (the newest first), once it has finished;
    /// anything but Succeeded fails the test with the row's error and details.
    fn wait_for_action(&self, kind: &str) {
        self.wait_for(
            &format!("the action center to show a {kind}"),
            "location.hash.startsWith('#/actions')",
        );
        let status = self.wait_for(
            &format!("the {kind} to finish"),
            &format!(
                "(() => {{ const row = document.querySelector(\
                 '[data-testid=action-row][data-kind={kind}]'); \
                 return row && row.dataset.status !== 'Running' ? row.dataset.status : null; }})()"
            ),
        );
        if status != json!("Succeeded") {
            panic!(
                "the {kind} ended {status}: {}",
                self.eval(&format!(
                    "document.querySelector('[data-testid=action-row][data-kind={kind}]').innerText"
                ))
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The steps

/// Filtering by severity shows only alerts of that severity, fewer than all.
fn filter_queue_by_severity(console: &Console, total: usize) {
    let all = console.alert_rows();
    let informational = all
        .iter()
        .filter(|row| row["severity"] == "Informational")
        .count();
    assert!(
        informational > 0 && informational < total,
        "the stream should raise some Informational alerts and others: {all:?}"
    );
    console.eval(
        "(() => { const select = document.querySelector('[data-testid=filter-severity]'); \
           select.value = 'Informational'; \
           select.dispatchEvent(new Event('change', { bubbles: true })); })()",
    );
    console.click("[data-testid=filter-apply]");
    console.wait_for(
        "the filtered queue",
        "location.hash.includes('severity=Informational') \
         && document.querySelector('[data-testid=filter-severity]')?.value === 'Informational'",
    );
    let shown = console.alert_rows();
    assert_eq!(shown.len(), informational, "filtered rows: {shown:?}");
    assert!(
        shown.iter().all(|row| row["severity"] == "Informational"),
        "{shown:?}"
    );
    let total_text =
        console.eval("document.querySelector('[data-testid=alert-total]').textContent");
    assert_eq!(
        total_text,
        json!(format!("1–{informational} of {informational}")),
        "the pager counts the filtered alerts"
    );
}

/// The penetration-tool alert's user agent and pod name are shown as the literal text they
/// are, in the queue and on the alert's page; no element or script comes out of them.
fn attacker_fields_render_as_text(console: &Console) {
    console.go("#/alerts");
    let row = console.wait_for(
        "the penetration-tool alert",
        "[...document.querySelectorAll('[data-testid=alert-row]')]\
         .find((row) => row.textContent.includes('K8S_PenTestToolsKubeHunter'))?.dataset.id",
    );
    let id = row.as_str().unwrap();
    let selector = format!("[data-testid=alert-row][data-id='{id}']");
    let text = console.eval(&format!(
        "document.querySelector({}).textContent",
        json!(selector)
    ));
    let text = text.as_str().unwrap();
    assert!(
        text.contains(IMG_PAYLOAD) && text.contains(SCRIPT_PAYLOAD),
        "the queue row shows {text:?}"
    );
    assert_no_injected_markup(console);

    console.click(&selector);
    console.wait_for(
        "the alert page",
        "document.querySelector('[data-testid=entities]')",
    );
    let page = console.eval("document.getElementById('main').textContent");
    let page = page.as_str().unwrap();
    assert!(
        page.contains(IMG_PAYLOAD) && page.contains(SCRIPT_PAYLOAD),
        "the alert page shows {page:?}"
    );
    assert_no_injected_markup(console);
}

fn assert_no_injected_markup(console: &Console) {
    let found = console.eval(
        "({ images: document.querySelectorAll('img').length, \
            inlineScripts: [...document.scripts].filter((s) => !s.src).length, \
            xss: typeof window.__xss })",
    );
    assert_eq!(
        found,
        json!({"images": 0, "inlineScripts": 0, "xss": "undefined"}),
        "alert fields became markup"
    );
}

/// Opens the incident about web-1 from the incident list; returns its id.
fn open_web_incident(console: &Console) -> String {
    console.click("[data-testid=nav-incidents]");
    let id = console.wait_for(
        "the web-1 incident in the list",
        "[...document.querySelectorAll('[data-testid=incident-row]')]\
         .find((row) => row.textContent.includes('web-1'))?.dataset.id",
    );
    let id = id.as_str().unwrap().to_string();
    console.click(&format!("[data-testid=incident-row][data-id='{id}']"));
    let kinds = console.wait_for(
        "the incident's entity graph",
        "(() => { const nodes = document.querySelectorAll(\
           '[data-testid=incident-graph] [data-testid=graph-node]'); \
           return nodes.length ? [...nodes].map((n) => n.dataset.kind) : null; })()",
    );
    let kinds: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for kind in ["pod", "namespace", "service_account", "image"] {
        assert!(
            kinds.iter().any(|k| k.eq_ignore_ascii_case(kind)),
            "the graph has no {kind} node: {kinds:?}"
        );
    }
    let alerts = console
        .eval("document.querySelectorAll('[data-testid=incident-timeline] tbody tr').length");
    assert_eq!(alerts, json!(3), "the web-1 incident's timeline");
    id
}

/// Isolates web-1 from its node in the incident's graph, and follows it to Succeeded.
fn isolate_from_graph(console: &Console, standin: &StandIn) {
    console.click("[data-testid=graph-node][data-kind=pod]");
    let pane = console.wait_for(
        "the pod's entity pane",
        "document.querySelector('[data-testid=entity-pane]')?.textContent",
    );
    assert!(pane.as_str().unwrap().contains("web-1"), "{pane}");
    assert!(changes(standin).is_empty(), "{:?}", changes(standin));

    console.click("[data-testid=action-isolate]");
    // Nothing happens before the confirmation.
    console.wait_for(
        "the confirmation",
        "document.querySelector('[data-testid=action-confirm]')",
    );
    assert!(changes(standin).is_empty(), "{:?}", changes(standin));
    console.click("[data-testid=action-confirm]");
    console.wait_for_action("isolate");

    let policy = network_policy(standin, "web-1").expect("the isolating NetworkPolicy");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"][ISOLATION_LABEL], "web-1",
        "{policy}"
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        json!(["Ingress", "Egress"]),
        "{policy}"
    );
    // Both directions named and no rule given: all traffic denied.
    for direction in ["ingress", "egress"] {
        let rules = &policy["spec"][direction];
        assert!(
            rules.is_null() || rules == &json!([]),
            "{direction} allows: {policy}"
        );
    }
    assert!(
        cilium_policy(standin, "web-1").is_some(),
        "no Cilium deny policy"
    );
    let labels = &pod(standin, "web-1").unwrap()["metadata"]["labels"];
    assert_eq!(labels[ISOLATION_LABEL], "web-1", "{labels}");
    assert_eq!(labels["app"], "web", "the pod's own labels stay: {labels}");
    let patch = standin
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path == "/api/v1/namespaces/shop/pods/web-1")
        .expect("the pod was labelled with a PATCH");
    assert_eq!(
        patch.json(),
        Some(json!({"metadata": {"labels": {ISOLATION_LABEL: "web-1"}}}))
    );
}

/// Releases web-1 with the action center's "Release from isolation".
fn release_from_action_center(console: &Console, standin: &StandIn) {
    console.click("[data-testid=release-isolated]");
    console.wait_for(
        "the release in the action center",
        "document.querySelector('[data-testid=action-row][data-kind=release]')",
    );
    console.wait_for_action("release");
    assert!(network_policy(standin, "web-1").is_none(), "policy kept");
    assert!(
        cilium_policy(standin, "web-1").is_none(),
        "Cilium policy kept"
    );
    let labels = &pod(standin, "web-1").unwrap()["metadata"]["labels"];
    assert!(labels.get(ISOLATION_LABEL).is_none(), "{labels}");
    // Once released, the isolation offers no release any more.
    assert_eq!(
        console.eval("document.querySelectorAll('[data-testid=release-isolated]').length"),
        json!(0)
    );
}

/// Terminates worker-0 from its alert's page.
fn terminate_from_alert(console: &Console, standin: &StandIn) {
    console.click("[data-testid=nav-alerts]");
    let id = console.wait_for(
        "worker-0's alert",
        "[...document.querySelectorAll('[data-testid=alert-row]')]\
         .find((row) => row.textContent.includes('worker-0'))?.dataset.id",
    );
    console.click(&format!(
        "[data-testid=alert-row][data-id='{}']",
        id.as_str().unwrap()
    ));
    let target = console.wait_for(
        "the alert's response panel",
        "document.querySelector('[data-testid=pod-actions] h3')?.textContent",
    );
    assert_eq!(target, json!("Respond: shop/worker-0"));
    console.eval("document.querySelector('[data-testid=grace-seconds]').value = ''");
    console.type_into("[data-testid=grace-seconds]", "5");
    console.click("[data-testid=action-terminate]");
    console.click("[data-testid=action-confirm]");
    console.wait_for_action("terminate");
    assert!(pod(standin, "worker-0").is_none(), "worker-0 still exists");
    let delete = standin
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE" && r.path == "/api/v1/namespaces/shop/pods/worker-0")
        .expect("worker-0 was deleted with a DELETE");
    assert_eq!(
        delete.json().map(|body| body["gracePeriodSeconds"].clone()),
        Some(json!(5)),
        "the grace period typed in the console: {}",
        delete.body
    );
    assert!(pod(standin, "web-1").is_some(), "web-1 was deleted too");
}

/// A reader sees the incident but every response button is disabled with the reason, and
/// the API refuses the action naming the missing permission; the cluster sees nothing.
fn reader_is_refused(console: &Console, standin: &StandIn, incident: &str) {
    let before = changes(standin);
    console.go(&format!("#/incidents/{incident}"));
    console.click("[data-testid=graph-node][data-kind=pod]");
    let refusal = console.wait_for(
        "the refusal in the pod's pane",
        "document.querySelector('[data-testid=response-refused]')?.textContent",
    );
    assert!(
        refusal.as_str().unwrap().contains("Response: manage"),
        "{refusal}"
    );
    let disabled = console.eval(
        "['action-isolate', 'action-release', 'action-terminate'].map((id) => \
           document.querySelector(`[data-testid=${id}]`).disabled)",
    );
    assert_eq!(disabled, json!([true, true, true]));

    let answer = console.eval(
        "(async () => { \
           if (!state.csrf) throw new Error('the page has no CSRF token'); \
           const response = await fetch('/api/v1/actions', { method: 'POST', \
             credentials: 'same-origin', \
             headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.csrf }, \
             body: JSON.stringify({ kind: 'isolate', namespace: 'shop', pod: 'web-1' }) }); \
           return { status: response.status, body: await response.json() }; })()",
    );
    assert_eq!(answer["status"], 403, "{answer}");
    assert_eq!(
        answer["body"]["missingPermission"], "Response: manage",
        "{answer}"
    );
    assert!(
        answer["body"]["error"]
            .as_str()
            .unwrap()
            .contains("Response: manage"),
        "{answer}"
    );
    console.go("#/actions");
    console.wait_for(
        "the action center",
        "document.querySelector('[data-testid=action-table]')",
    );
    assert_eq!(
        console.eval("document.querySelectorAll('[data-testid=action-row]').length"),
        json!(3),
        "the refused request left no action"
    );
    assert_eq!(changes(standin), before, "the cluster was changed");
}
