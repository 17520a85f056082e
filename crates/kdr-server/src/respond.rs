//! Response actions from the console and the API: each request is recorded at once (Running),
//! runs in the background through kdr-respond against the cluster's API, and its record is
//! completed with the outcome (Succeeded, Partial or Failed, the API error, what was done).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use kdr_store::ActionRecord;

use crate::{auth, now, ApiError, AppState};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Isolate,
    Release,
    Terminate,
}

impl ActionKind {
    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::Isolate => "isolate",
            ActionKind::Release => "release",
            ActionKind::Terminate => "terminate",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    pub kind: ActionKind,
    pub namespace: String,
    pub pod: String,
    /// kubeconfig context (cluster); default: the one that reaches `cluster`, else the
    /// runner's default context.
    #[serde(default)]
    pub context: Option<String>,
    /// The cluster the alert names (its `cluster` entity), when the request comes from an
    /// alert or incident: the runner maps it to a context, so that an action on a pod of
    /// another cluster never goes to the default one.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Terminate only: the pod's grace period; default: the runner's.
    #[serde(default)]
    pub grace_seconds: Option<i64>,
    #[serde(default)]
    pub alert_id: Option<String>,
    #[serde(default)]
    pub incident_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ActionStatus {
    Succeeded,
    /// Done, but the pod can still talk (policies that keep allowing traffic): never silent.
    Partial,
    Failed,
}

impl ActionStatus {
    pub fn name(self) -> &'static str {
        match self {
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Partial => "Partial",
            ActionStatus::Failed => "Failed",
        }
    }
}

/// How an action ended, as the runner reports it.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub status: ActionStatus,
    /// The reason of a failure: a pre-check's or the API server's answer.
    pub error: Option<String>,
    /// Everything else worth keeping: objects created or removed, policies that keep
    /// traffic flowing, timings. Shown in the action center.
    pub details: serde_json::Value,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What carries out response actions against clusters. The server records and shows
/// actions; the runner (kdr-respond through kube-rs, wired by the `kdr` binary) does them.
pub trait ResponseRunner: Send + Sync + 'static {
    /// Runs one action to its end. Never fails: failures are outcomes.
    fn run<'a>(&'a self, request: &'a ActionRequest) -> BoxFuture<'a, RunOutcome>;
    /// The context actions run against when a request names none.
    fn default_context(&self) -> Option<String>;
    /// The context that reaches the cluster alerts call `cluster`: `Ok(None)` for the default
    /// context, an error (shown to the requester) when no known context reaches it. A runner
    /// that reaches a single cluster has nothing to choose.
    fn context_for_cluster(&self, _cluster: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}

fn check_name(what: &str, text: &str) -> Result<(), ApiError> {
    // Kubernetes names: DNS-1123 labels/subdomains, at most 253 characters.
    let valid = !text.is_empty()
        && text.len() <= 253
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what}: {text:?} is not a Kubernetes object name (lowercase letters, digits, '-', '.')"
        )))
    }
}

/// The record of a request about to run (status Running), with a fresh id.
pub fn new_record(
    request: &ActionRequest,
    actor: &str,
    default_context: Option<String>,
) -> ActionRecord {
    ActionRecord {
        id: format!("act-{}", auth::hex(&auth::random_bytes::<8>())),
        kind: request.kind.verb().to_owned(),
        context: request
            .context
            .clone()
            .or(default_context)
            .unwrap_or_default(),
        namespace: request.namespace.clone(),
        pod: request.pod.clone(),
        actor: actor.to_owned(),
        requested_at: now(),
        finished_at: None,
        status: "Running".to_owned(),
        error: None,
        details: json!({ "graceSeconds": request.grace_seconds }),
        alert_id: request.alert_id.clone(),
        incident_id: request.incident_id.clone(),
    }
}

/// Records the request, starts it in the background, and returns the record (Running).
pub async fn start(
    state: &Arc<AppState>,
    actor: &str,
    mut request: ActionRequest,
) -> Result<ActionRecord, ApiError> {
    check_name("namespace", &request.namespace)?;
    check_name("pod", &request.pod)?;
    if request.context.is_none() {
        if let Some(cluster) = request.cluster.as_deref().filter(|c| !c.is_empty()) {
            request.context = state
                .responder
                .context_for_cluster(cluster)
                .map_err(ApiError::bad_request)?;
        }
    }
    let record = new_record(&request, actor, state.responder.default_context());
    let stored = record.clone();
    state.with_store(move |s| s.create_action(&stored)).await?;
    state
        .audit(
            actor,
            &format!("response.{}", record.kind),
            &format!("{}/{}", record.namespace, record.pod),
            json!({ "action": record.id, "context": record.context }),
        )
        .await?;
    let background = Arc::clone(state);
    let id = record.id.clone();
    tokio::spawn(async move {
        let outcome = background.responder.run(&request).await;
        let status = outcome.status.name();
        let error = outcome.error;
        let details = outcome.details;
        let finished = now();
        let result = background
            .with_store(move |s| {
                s.update_action(&id, status, Some(finished), error.as_deref(), &details)
            })
            .await;
        if let Err(error) = result {
            eprintln!(
                "kdr serve: recording the end of a response action failed: {}",
                error.message
            );
        }
    });
    Ok(record)
}
