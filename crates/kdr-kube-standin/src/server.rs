//! The HTTP side: routing the API server's paths, bearer-token checks, request recording,
//! and the kubeconfig that points clients here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::patch::PatchKind;
use crate::seed::Seed;
use crate::selector::LabelSelector;
use crate::status::ApiStatus;
use crate::store::{DeleteOptions, Store};

/// Largest request body accepted, as the API server's own limit (3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Requests kept for assertions; later ones are counted, not kept.
const MAX_RECORDED: usize = 100_000;
/// Where the recorded requests are served (unauthenticated, unrecorded) to other processes.
pub const JOURNAL_PATH: &str = "/_standin/requests";
/// Query parameters whose meaning the stand-in does not implement; a request using one is
/// refused instead of answered as if the parameter were absent.
const UNIMPLEMENTED_PARAMS: [&str; 5] = ["watch", "fieldSelector", "limit", "continue", "dryRun"];

/// One request as it reached the stand-in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The body as text (lossy for non-UTF-8).
    pub body: String,
}

impl RecordedRequest {
    /// The body parsed as JSON, or `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The decoded value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// One context of a kubeconfig: a name, the server URL and the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeContext {
    pub name: String,
    pub server: String,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    #[error("seed object {index} ({what}): {message}")]
    Seed {
        index: usize,
        what: String,
        message: String,
    },
    #[error("listening on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    #[error("writing kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
    #[error("a kubeconfig needs at least one context")]
    NoContexts,
}

struct Journal {
    requests: Vec<RecordedRequest>,
    dropped: u64,
}

struct Shared {
    store: Mutex<Store>,
    journal: Mutex<Journal>,
    token: String,
    version: Value,
}

/// Locks a mutex even if a handler panicked while holding it: the stand-in's state is
/// plain data that stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running stand-in. It stops when dropped.
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl StandIn {
    /// Loads the seed and starts serving on `127.0.0.1` on a random port. Needs a Tokio
    /// runtime; the server runs as a task on it.
    pub async fn start(seed: Seed) -> Result<StandIn, StandInError> {
        let store = seeded_store(&seed)?;
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            journal: Mutex::new(Journal {
                requests: Vec::new(),
                dropped: 0,
            }),
            token: seed.token.clone(),
            version: version_info(&seed),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(StandInError::Listen)?;
        let addr = listener.local_addr().map_err(StandInError::Listen)?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender stops the server just as a sent signal does.
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                eprintln!("kdr-kube-standin: serving stopped: {err}");
            }
        });
        Ok(StandIn {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig context named `name` that points here with the seed's token.
    pub fn context(&self, name: &str) -> KubeContext {
        KubeContext {
            name: name.to_string(),
            server: self.url(),
            token: self.shared.token.clone(),
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.journal).requests.clone()
    }

    /// Every request so far, and forgets them.
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut lock(&self.shared.journal).requests)
    }

    /// Requests not kept because the journal was full.
    pub fn dropped_requests(&self) -> u64 {
        lock(&self.shared.journal).dropped
    }

    /// The stored object, as a GET would return it, or `None`.
    pub fn object(
        &self,
        api_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let store = lock(&self.shared.store);
        let index = store.resource_type(api_version, plural)?;
        store.get(index, namespace, name).ok()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server task may already be gone with its runtime; nothing to stop then.
            let _ = shutdown.send(());
        }
    }
}

/// Writes a kubeconfig with one cluster, user and context per entry; the first is current.
pub fn write_kubeconfig(path: &Path, contexts: &[KubeContext]) -> Result<(), StandInError> {
    let current = contexts.first().ok_or(StandInError::NoContexts)?;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current.name,
        "clusters": contexts.iter().map(|c| json!({
            "name": c.name, "cluster": {"server": c.server},
        })).collect::<Vec<_>>(),
        "users": contexts.iter().map(|c| json!({
            "name": c.name, "user": {"token": c.token},
        })).collect::<Vec<_>>(),
        "contexts": contexts.iter().map(|c| json!({
            "name": c.name, "context": {"cluster": c.name, "user": c.name},
        })).collect::<Vec<_>>(),
    });
    let text = serde_yaml_ng::to_string(&config)
        .expect("a JSON value of maps, lists and strings always serializes to YAML");
    std::fs::write(path, text).map_err(|source| StandInError::Kubeconfig {
        path: path.display().to_string(),
        source,
    })
}

fn seeded_store(seed: &Seed) -> Result<Store, StandInError> {
    let mut store = Store::new(&seed.custom_resources);
    let objects = seed
        .pods
        .iter()
        .map(|pod| pod.to_object())
        .chain(seed.objects.iter().cloned());
    for (index, object) in objects.enumerate() {
        let what = format!(
            "{} {}",
            object.get("kind").and_then(Value::as_str).unwrap_or("?"),
            object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
        let fail = |message: String| StandInError::Seed {
            index,
            what: what.clone(),
            message,
        };
        let type_index = store.type_of_object(&object).ok_or_else(|| {
            fail("apiVersion and kind name no type this stand-in serves".to_string())
        })?;
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("metadata.namespace is required".to_string()))?
            .to_string();
        store
            .create(type_index, &namespace, object)
            .map_err(|status| fail(status.message))?;
    }
    Ok(store)
}

/// `GET /version`; `major`/`minor` come from the seed or from `gitVersion` (`v1.29.3` -> 1, 29).
fn version_info(seed: &Seed) -> Value {
    let mut numbers = seed
        .git_version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(str::to_string);
    let major = seed
        .major
        .clone()
        .unwrap_or_else(|| numbers.next().unwrap_or_default());
    let minor = seed
        .minor
        .clone()
        .unwrap_or_else(|| numbers.next().unwrap_or_default());
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": seed.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

#[derive(Debug, PartialEq)]
enum Route {
    Version,
    Discovery {
        api_version: String,
    },
    Collection {
        api_version: String,
        namespace: Option<String>,
        plural: String,
    },
    Object {
        api_version: String,
        namespace: String,
        plural: String,
        name: String,
    },
}

fn route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let owned = |s: &str| s.to_string();
    let (api_version, rest) = match segments.as_slice() {
        ["version"] => return Some(Route::Version),
        ["api", "v1", rest @ ..] => ("v1".to_string(), rest),
        ["apis", group, version] => {
            return Some(Route::Discovery {
                api_version: format!("{group}/{version}"),
            })
        }
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    match rest {
        [plural] => Some(Route::Collection {
            api_version,
            namespace: None,
            plural: owned(plural),
        }),
        ["namespaces", namespace, plural] => Some(Route::Collection {
            api_version,
            namespace: Some(owned(namespace)),
            plural: owned(plural),
        }),
        ["namespaces", namespace, plural, name] => Some(Route::Object {
            api_version,
            namespace: owned(namespace),
            plural: owned(plural),
            name: owned(name),
        }),
        _ => None,
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path() == JOURNAL_PATH {
        let journal = lock(&shared.journal);
        return Json(json!({"requests": journal.requests, "dropped": journal.dropped}))
            .into_response();
    }
    let Some(route) = route(parts.uri.path()) else {
        return ApiStatus::no_such_resource().into_response();
    };
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return ApiStatus::too_large(MAX_BODY_BYTES).into_response(),
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header_text(header::CONTENT_TYPE);
    record(
        &shared,
        RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            content_type: content_type.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        },
    );
    let expected = format!("Bearer {}", shared.token);
    if header_text(header::AUTHORIZATION).as_deref() != Some(expected.as_str()) {
        return ApiStatus::unauthorized().into_response();
    }
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if let Some((param, _)) = query
        .iter()
        .find(|(key, value)| UNIMPLEMENTED_PARAMS.contains(&key.as_str()) && !value.is_empty())
    {
        return ApiStatus::bad_request(format!(
            "the stand-in does not implement the query parameter {param}"
        ))
        .into_response();
    }
    let request = ApiRequest {
        method: parts.method,
        query,
        content_type,
        body,
    };
    match dispatch(&shared, route, &request) {
        Ok((code, value)) => (code, Json(value)).into_response(),
        Err(status) => status.into_response(),
    }
}

fn record(shared: &Shared, request: RecordedRequest) {
    let mut journal = lock(&shared.journal);
    if journal.requests.len() < MAX_RECORDED {
        journal.requests.push(request);
    } else {
        journal.dropped += 1;
    }
}

struct ApiRequest {
    method: Method,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Bytes,
}

impl ApiRequest {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json_body(&self) -> Result<Value, ApiStatus> {
        serde_json::from_slice(&self.body).map_err(|err| {
            ApiStatus::bad_request(format!("the request body is not valid JSON: {err}"))
        })
    }

    fn delete_options(&self) -> Result<DeleteOptions, ApiStatus> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            self.json_body()?
        };
        let text = |pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let grace_from_query = match self.param("gracePeriodSeconds") {
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                ApiStatus::bad_request(format!("gracePeriodSeconds {text:?} is not an integer"))
            })?),
            None => None,
        };
        Ok(DeleteOptions {
            grace_period_seconds: body
                .get("gracePeriodSeconds")
                .and_then(Value::as_i64)
                .or(grace_from_query),
            precondition_uid: text("/preconditions/uid"),
            precondition_resource_version: text("/preconditions/resourceVersion"),
        })
    }
}

fn dispatch(
    shared: &Shared,
    route: Route,
    request: &ApiRequest,
) -> Result<(StatusCode, Value), ApiStatus> {
    let ok = |value| Ok((StatusCode::OK, value));
    let method = &request.method;
    let mut store = lock(&shared.store);
    match route {
        Route::Version if method == Method::GET => ok(shared.version.clone()),
        Route::Discovery { api_version } if method == Method::GET => {
            let types = store.types_in_group_version(&api_version);
            if types.is_empty() {
                return Err(ApiStatus::no_such_resource());
            }
            let resources: Vec<Value> = types
                .iter()
                .map(|t| {
                    json!({
                        "name": t.plural,
                        "singularName": t.kind.to_lowercase(),
                        "namespaced": true,
                        "kind": t.kind,
                        "verbs": ["create", "delete", "get", "list", "patch", "update"],
                    })
                })
                .collect();
            ok(json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": api_version,
                "resources": resources,
            }))
        }
        Route::Collection {
            api_version,
            namespace,
            plural,
        } => {
            let index = store
                .resource_type(&api_version, &plural)
                .ok_or_else(ApiStatus::no_such_resource)?;
            match (method, namespace) {
                (&Method::GET, namespace) => {
                    let selector =
                        LabelSelector::parse(request.param("labelSelector").unwrap_or(""))
                            .map_err(|why| {
                                ApiStatus::bad_request(format!(
                                    "unable to parse requirement: {why}"
                                ))
                            })?;
                    ok(store.list(index, namespace.as_deref(), &selector))
                }
                (&Method::POST, Some(namespace)) => {
                    let created = store.create(index, &namespace, request.json_body()?)?;
                    Ok((StatusCode::CREATED, created))
                }
                _ => Err(ApiStatus::method_not_allowed(method.as_str())),
            }
        }
        Route::Object {
            api_version,
            namespace,
            plural,
            name,
        } => {
            let index = store
                .resource_type(&api_version, &plural)
                .ok_or_else(ApiStatus::no_such_resource)?;
            match *method {
                Method::GET => ok(store.get(index, &namespace, &name)?),
                Method::PUT => ok(store.replace(index, &namespace, &name, request.json_body()?)?),
                Method::PATCH => {
                    let kind = PatchKind::from_content_type(request.content_type.as_deref())
                        .map_err(ApiStatus::unsupported_media_type)?;
                    ok(store.patch(index, &namespace, &name, kind, &request.json_body()?)?)
                }
                Method::DELETE => {
                    ok(store.delete(index, &namespace, &name, &request.delete_options()?)?)
                }
                _ => Err(ApiStatus::method_not_allowed(method.as_str())),
            }
        }
        Route::Version | Route::Discovery { .. } => {
            Err(ApiStatus::method_not_allowed(method.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_route_to_their_resources() {
        assert_eq!(route("/version"), Some(Route::Version));
        assert_eq!(
            route("/api/v1/pods"),
            Some(Route::Collection {
                api_version: "v1".into(),
                namespace: None,
                plural: "pods".into()
            })
        );
        assert_eq!(
            route("/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/kdr-isolate-web"),
            Some(Route::Object {
                api_version: "networking.k8s.io/v1".into(),
                namespace: "shop".into(),
                plural: "networkpolicies".into(),
                name: "kdr-isolate-web".into()
            })
        );
        assert_eq!(
            route("/apis/cilium.io/v2"),
            Some(Route::Discovery {
                api_version: "cilium.io/v2".into()
            })
        );
        assert_eq!(route("/api/v1/namespaces/shop/pods/web/exec/x"), None);
        assert_eq!(route("/healthz/x"), None);
    }

    #[test]
    fn version_parts_come_from_git_version_unless_given() {
        let info = version_info(&Seed::new("v1.29.3-eks-abc"));
        assert_eq!(
            (info["major"].as_str(), info["minor"].as_str()),
            (Some("1"), Some("29"))
        );
        let info = version_info(&Seed::new("v1.27.0").version_parts("1", "27+"));
        assert_eq!(info["minor"], "27+");
    }
}
