//! `kdr serve`: one process with the store, the Kubernetes audit webhook, the ingest endpoint
//! for remote sensors, detection, the REST API and the web console.
//!
//! The HTTP side is async (tokio, axum); the store is synchronous and runs on blocking
//! threads: API reads and triage through one connection, ingest through the pipeline's own
//! writer (see [`ingest`]). Every `/api` endpoint except login requires a session (browser)
//! or an API token, and checks a named permission; state-changing calls made with a session
//! cookie also need the session's CSRF token.

pub mod api;
pub mod auth;
pub mod console;
pub mod ingest;
pub mod principal;
pub mod respond;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use kdr_model::Timestamp;
use kdr_store::{Store, StoreError};

pub use api::router;
pub use auth::Permission;
pub use ingest::Ingest;

/// Everything the handlers share.
pub struct AppState {
    store: Mutex<Store>,
    pub ingest: Ingest,
    pub rules: Arc<kdr_rules::Rules>,
    limiter: Mutex<auth::LoginLimiter>,
    pub responder: Arc<dyn respond::ResponseRunner>,
    pub options: ServerOptions,
}

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// How long a console session lasts.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (when served over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// How long an ingest request waits for room in the queue before "retry later".
    pub ingest_patience: Duration,
    /// Largest request body accepted (webhook batches, sensor uploads).
    pub max_body_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            ingest_patience: Duration::from_secs(10),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

impl AppState {
    pub fn new(
        store: Store,
        ingest: Ingest,
        rules: Arc<kdr_rules::Rules>,
        responder: Arc<dyn respond::ResponseRunner>,
        options: ServerOptions,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            store: Mutex::new(store),
            ingest,
            rules,
            limiter: Mutex::new(auth::LoginLimiter::default()),
            responder,
            options,
        })
    }

    /// Runs `work` on the API's store connection, on a blocking thread.
    pub async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the store itself is still consistent
            // (transactions roll back), so keep serving.
            let mut store = state.store.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(ApiError::from)
    }

    /// Records a change in the audit trail. A failure to record is an error of the request:
    /// changes must not go unrecorded.
    pub async fn audit(
        self: &Arc<Self>,
        actor: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), ApiError> {
        let (actor, action, target) = (actor.to_owned(), action.to_owned(), target.to_owned());
        self.with_store(move |s| s.record_audit(&actor, &action, &target, &details))
            .await
    }
}

pub fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    )
}

/// An error as the API reports it: a status code and `{"error": "..."}`, plus the missing
/// permission when that is the reason.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub missing_permission: Option<Permission>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            missing_permission: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign in, or present an API token as `Authorization: Bearer kdr_...`",
        )
    }

    pub fn forbidden(missing: Permission, doing: &str) -> ApiError {
        ApiError {
            missing_permission: Some(missing),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                format!("permission \"{missing}\" is required to {doing}"),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let status = match &error {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::AlreadyExists { .. } => StatusCode::CONFLICT,
            StoreError::Invalid { .. } | StoreError::Hunt(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(permission) = self.missing_permission {
            body["missingPermission"] = json!(permission.label());
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs().max(1).to_string();
            if let Ok(value) = seconds.parse() {
                response.headers_mut().insert("retry-after", value);
            }
        }
        response
    }
}

/// Serves until `shutdown` resolves. `listener` is bound by the caller (so it can report the
/// address, and tests can use port 0).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
