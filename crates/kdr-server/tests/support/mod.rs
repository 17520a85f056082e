//! A real `kdr serve` stack (store in a temporary directory, engine, ingest pipeline, HTTP on
//! a loopback port) for tests, and a small HTTP client over it.
#![allow(dead_code)] // each test file uses its own part of the support

mod no_cluster;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use kdr_engine::Engine;
use kdr_server::{auth, AppState, Ingest, Permission, ServerOptions};
use kdr_store::{Store, StoreOptions};

use no_cluster::NoCluster;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const USER_PASSWORD: &str = "user-password-for-tests";

pub struct Server {
    pub base: String,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub struct Raw {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub text: String,
    pub body: Value,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().display().to_string();
        let mut store = Store::open(&location, StoreOptions::default()).unwrap();
        store
            .create_user(
                "admin",
                &auth::hash_password(ADMIN_PASSWORD).unwrap(),
                &auth::permission_keys(&[Permission::Admin]),
            )
            .unwrap();
        let writer = Store::open(&location, StoreOptions::default()).unwrap();
        let rules = Arc::new(kdr_rules::load(&[]).unwrap());
        let engine = Engine::new(Arc::clone(&rules), kdr_intel::IndicatorSet::default());
        let (ingest, _thread) = Ingest::start(engine, writer);
        let state = AppState::new(
            store,
            ingest,
            rules,
            Arc::new(NoCluster),
            ServerOptions::default(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(kdr_server::serve(listener, state, std::future::pending()));
        Server {
            base,
            _dir: dir,
            _runtime: runtime,
        }
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Raw {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{}", self.base, path);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = match body {
            Some(body) => agent
                .run(
                    request
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .unwrap(),
                )
                .unwrap(),
            None => agent.run(request.body(()).unwrap()).unwrap(),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = response.into_body().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Raw {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(cookie) = cookie {
            all.push(("cookie", cookie));
        }
        let raw = self.raw(method, path, &all, body);
        (raw.status, raw.body)
    }

    pub fn login(&self, user: &str, password: &str) -> Session {
        let raw = self.raw(
            "POST",
            "/api/v1/login",
            &[],
            Some(json!({ "username": user, "password": password })),
        );
        assert_eq!(raw.status, 200, "login {user}: {}", raw.text);
        let set_cookie = &raw.headers["set-cookie"];
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
        Session {
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
            csrf: raw.body["csrfToken"].as_str().unwrap().to_owned(),
        }
    }

    pub fn post(&self, session: &Session, path: &str, body: Value) -> (u16, Value) {
        self.request(
            "POST",
            path,
            Some(&session.cookie),
            &[("x-csrf-token", &session.csrf)],
            Some(body),
        )
    }

    pub fn create_user(&self, admin: &Session, name: &str, role: &str) {
        let (status, body) = self.post(
            admin,
            "/api/v1/users",
            json!({ "name": name, "password": USER_PASSWORD, "role": role }),
        );
        assert_eq!(status, 200, "{body}");
    }

    pub fn create_token(&self, admin: &Session, role: &str) -> String {
        let (status, body) = self.post(
            admin,
            "/api/v1/tokens",
            json!({ "name": format!("{role} token"), "role": role }),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

/// A webhook batch: the recorded privileged-pod creation, with the pod named `pod_name`.
pub fn privileged_pod_event_list(pod_name: &str) -> Value {
    let case: Value = serde_json::from_str(include_str!(
        "../../../../testdata/audit/cases/K8S_PrivilegedContainer.json"
    ))
    .unwrap();
    let mut event = case["positive"][0]["events"][0].clone();
    event["objectRef"]["name"] = json!(pod_name);
    event["requestObject"]["metadata"]["name"] = json!(pod_name);
    if event["responseObject"].is_object() {
        event["responseObject"]["metadata"]["name"] = json!(pod_name);
    }
    json!({ "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [event] })
}
