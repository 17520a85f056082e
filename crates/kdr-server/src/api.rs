//! The REST API under `/api/v1` and the routes of the console. docs/api.md lists them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use kdr_incidents::Status;
use kdr_model::{Event, Plane, Severity, Timestamp};
use kdr_store::{
    ActionFilter, AlertFilter, AlertSort, AlertSortField, IncidentFilter, Page, TokenRecord,
    UserChange,
};

use crate::auth::{self, permission_keys, permissions_from_keys, IssuedToken, Permission};
use crate::ingest::IngestError;
use crate::principal::{Credential, Principal, SESSION_COOKIE};
use crate::{console, now, ApiError, AppState};

type ApiResult<T = Json<Value>> = Result<T, ApiError>;
type AppStateRef = State<Arc<AppState>>;

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.options.max_body_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/session", get(session))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/bulk", post(bulk_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/status", post(alert_status))
        .route("/api/v1/alerts/{id}/assign", post(alert_assign))
        .route("/api/v1/alerts/{id}/comments", post(alert_comment))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/incidents/{id}/status", post(incident_status))
        .route("/api/v1/incidents/{id}/assign", post(incident_assign))
        .route("/api/v1/hunt", post(hunt))
        .route("/api/v1/saved-queries", get(saved_queries).post(save_query))
        .route("/api/v1/saved-queries/{name}", delete(delete_saved_query))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/catalog/{alert_type}", get(catalog_entry))
        .route("/api/v1/actions", get(list_actions).post(request_action))
        .route("/api/v1/actions/{id}", get(get_action))
        .route("/api/v1/actions/{id}/comments", post(action_comment))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", post(update_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/audit-trail", get(audit_trail))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/audit/webhook", post(audit_webhook))
        .route("/api/v1/ingest", post(ingest_events))
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(console::security_headers))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(
    State(state): AppStateRef,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Response> {
    let client = Some(peer.ip());
    let started = Instant::now();
    if let Some(wait) = limiter(&state).retry_after(&request.username, client, started) {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed sign-ins; try again in {} s",
                wait.as_secs().max(1)
            ),
        );
        error.retry_after = Some(wait);
        return Err(error);
    }
    let name = request.username.clone();
    let user = state.with_store(move |s| s.get_user(&name)).await?;
    let password = request.password.clone();
    // Verify even for unknown users (against a fixed hash), so timing does not tell which
    // names exist.
    let (stored_hash, known) = match &user {
        Some(user) if !user.disabled => (user.password_hash.clone(), true),
        _ => (dummy_hash(), false),
    };
    let verified =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &stored_hash))
            .await
            .unwrap_or(false);
    if !(known && verified) {
        limiter(&state).failed(&request.username, client, Instant::now());
        state
            .audit(
                &request.username,
                "login.failed",
                &request.username,
                json!({ "address": peer.ip().to_string() }),
            )
            .await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    }
    limiter(&state).succeeded(&request.username);
    let user = user.expect("verified users exist");
    let session_id = auth::random_secret();
    let record = kdr_store::SessionRecord {
        id_hash: auth::sha256_hex(&session_id),
        user_name: user.name.clone(),
        csrf_token: auth::random_secret(),
        created_at: now(),
        expires_at: Timestamp(
            now().0 + i64::try_from(state.options.session_ttl.as_nanos()).unwrap_or(i64::MAX),
        ),
    };
    let csrf = record.csrf_token.clone();
    state
        .with_store(move |s| {
            s.delete_expired_sessions(now())?;
            s.create_session(&record)
        })
        .await?;
    state
        .audit(
            &user.name,
            "login",
            &user.name,
            json!({ "address": peer.ip().to_string() }),
        )
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.options.session_ttl.as_secs(),
        if state.options.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let permissions = permissions_from_keys(&user.permissions);
    let body = session_body(&user.name, &permissions, Some(&csrf));
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// An Argon2id hash of a random password nobody knows, for timing-even failed logins.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| auth::hash_password(&auth::random_secret()).unwrap_or_default())
        .clone()
}

fn limiter(state: &AppState) -> std::sync::MutexGuard<'_, auth::LoginLimiter> {
    state.limiter.lock().unwrap_or_else(|p| p.into_inner())
}

fn session_body(name: &str, permissions: &[Permission], csrf: Option<&str>) -> Value {
    let effective: Vec<&str> = Permission::ALL
        .iter()
        .filter(|p| auth::grants(permissions, **p))
        .map(|p| p.label())
        .collect();
    json!({ "user": name, "permissions": effective, "csrfToken": csrf })
}

async fn logout(State(state): AppStateRef, principal: Principal) -> ApiResult<Response> {
    if let Credential::Session { id_hash, .. } = &principal.credential {
        let id_hash = id_hash.clone();
        state
            .with_store(move |s| s.delete_session(&id_hash))
            .await?;
        state
            .audit(&principal.name, "logout", &principal.name, json!({}))
            .await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], Json(json!({ "ok": true }))).into_response())
}

async fn session(principal: Principal) -> ApiResult {
    let csrf = match &principal.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.as_str()),
        Credential::Token { .. } => None,
    };
    Ok(Json(session_body(
        &principal.name,
        &principal.permissions,
        csrf,
    )))
}

// ---------------------------------------------------------------------------------------------
// Alerts

fn list_param<T>(
    query: &HashMap<String, String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let Some(text) = query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|item| {
            parse(item.trim()).ok_or_else(|| {
                ApiError::bad_request(format!("query parameter {name}: unknown value {item:?}"))
            })
        })
        .collect()
}

fn text_param(query: &HashMap<String, String>, name: &str) -> Option<String> {
    query
        .get(name)
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn time_param(query: &HashMap<String, String>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    text_param(query, name)
        .map(|text| {
            kdr_kql::time::parse_datetime(&text)
                .map(Timestamp)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "query parameter {name}: {text:?} is not an ISO 8601 date or time"
                    ))
                })
        })
        .transpose()
}

fn page_param(query: &HashMap<String, String>) -> Result<Page, ApiError> {
    let number = |name: &str, default: u64| -> Result<u64, ApiError> {
        text_param(query, name).map_or(Ok(default), |t| {
            t.parse().map_err(|_| {
                ApiError::bad_request(format!("query parameter {name}: {t:?} is not a number"))
            })
        })
    };
    Ok(Page {
        offset: number("offset", 0)?,
        limit: number("limit", 50)?.clamp(1, Page::MAX_LIMIT),
    })
}

async fn list_alerts(
    State(state): AppStateRef,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "list alerts")?;
    let filter = AlertFilter {
        severities: list_param(&query, "severity", Severity::from_name)?,
        statuses: list_param(&query, "status", Status::from_name)?,
        alert_types: list_param(&query, "type", |t| Some(t.to_owned()))?,
        planes: list_param(&query, "plane", Plane::from_name)?,
        cluster: text_param(&query, "cluster"),
        namespace: text_param(&query, "namespace"),
        pod: text_param(&query, "pod"),
        from: time_param(&query, "from")?,
        to: time_param(&query, "to")?,
        text: text_param(&query, "q"),
    };
    let field = match text_param(&query, "sort").as_deref() {
        None | Some("time") => AlertSortField::Time,
        Some("severity") => AlertSortField::Severity,
        Some("type") => AlertSortField::AlertType,
        Some("status") => AlertSortField::Status,
        Some("count") => AlertSortField::Count,
        Some("updated") => AlertSortField::Updated,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query parameter sort: {other:?} is not one of time, severity, type, status, count, updated"
            )))
        }
    };
    let sort = AlertSort {
        field,
        descending: text_param(&query, "order").as_deref() != Some("asc"),
    };
    let page = page_param(&query)?;
    let result = state
        .with_store(move |s| s.list_alerts(&filter, sort, page))
        .await?;
    Ok(Json(json!(result)))
}

async fn get_alert(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "read alerts")?;
    let lookup = id.clone();
    let (alert, history, comments) = state
        .with_store(move |s| {
            let alert = s.get_alert(&lookup)?;
            Ok((alert, s.alert_history(&lookup)?, s.alert_comments(&lookup)?))
        })
        .await?;
    let alert = alert
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("alert {id:?} not found")))?;
    Ok(Json(
        json!({ "alert": alert, "history": history, "comments": comments }),
    ))
}

#[derive(Deserialize)]
struct StatusRequest {
    status: String,
}

fn parse_status(name: &str) -> Result<Status, ApiError> {
    Status::from_name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status: {name:?} is not one of New, InProgress, Resolved"
        ))
    })
}

async fn alert_status(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<StatusRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "change an alert's status")?;
    let status = parse_status(&request.status)?;
    let actor = principal.name.clone();
    let target = id.clone();
    state
        .with_store(move |s| s.set_alert_status(&target, status, &actor))
        .await?;
    state
        .audit(
            &principal.name,
            "alert.status",
            &id,
            json!({ "status": status.name() }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct AssignRequest {
    assignee: Option<String>,
}

async fn alert_assign(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<AssignRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "assign an alert")?;
    let actor = principal.name.clone();
    let target = id.clone();
    let assignee = request.assignee.clone().filter(|a| !a.trim().is_empty());
    let recorded = assignee.clone();
    state
        .with_store(move |s| s.assign_alert(&target, assignee.as_deref(), &actor))
        .await?;
    state
        .audit(
            &principal.name,
            "alert.assign",
            &id,
            json!({ "assignee": recorded }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct CommentRequest {
    text: String,
}

async fn alert_comment(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<CommentRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "comment on an alert")?;
    let author = principal.name.clone();
    state
        .with_store(move |s| s.comment_alert(&id, &author, &request.text))
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct BulkRequest {
    ids: Vec<String>,
    status: Option<String>,
    assignee: Option<String>,
}

async fn bulk_alerts(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<BulkRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "change alerts")?;
    if request.ids.len() > Page::MAX_LIMIT as usize {
        return Err(ApiError::bad_request(format!(
            "ids: at most {} alerts at once",
            Page::MAX_LIMIT
        )));
    }
    let status = request.status.as_deref().map(parse_status).transpose()?;
    let actor = principal.name.clone();
    let ids = request.ids.clone();
    let assignee = request.assignee.clone();
    let changed = state
        .with_store(move |s| {
            for id in &ids {
                if let Some(status) = status {
                    s.set_alert_status(id, status, &actor)?;
                }
                if let Some(assignee) = &assignee {
                    let assignee = Some(assignee.as_str()).filter(|a| !a.trim().is_empty());
                    s.assign_alert(id, assignee, &actor)?;
                }
            }
            Ok(ids.len())
        })
        .await?;
    state
        .audit(
            &principal.name,
            "alert.bulk",
            &format!("{changed} alerts"),
            json!({ "ids": request.ids, "status": request.status, "assignee": request.assignee }),
        )
        .await?;
    Ok(Json(json!({ "changed": changed })))
}

// ---------------------------------------------------------------------------------------------
// Incidents

async fn list_incidents(
    State(state): AppStateRef,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "list incidents")?;
    let filter = IncidentFilter {
        severities: list_param(&query, "severity", Severity::from_name)?,
        statuses: list_param(&query, "status", Status::from_name)?,
        cluster: text_param(&query, "cluster"),
        from: time_param(&query, "from")?,
        to: time_param(&query, "to")?,
        text: text_param(&query, "q"),
    };
    let page = page_param(&query)?;
    let result = state
        .with_store(move |s| s.list_incidents(&filter, page))
        .await?;
    Ok(Json(json!(result)))
}

async fn get_incident(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "read incidents")?;
    let lookup = id.clone();
    let (incident, alerts, graph, actions) = state
        .with_store(move |s| {
            let incident = s.get_incident(&lookup)?;
            let alerts = s.incident_alerts(&lookup)?;
            let graph = s.incident_graph(&lookup)?;
            let mut actions = Vec::new();
            let mut pods: Vec<(String, String)> = alerts
                .iter()
                .filter_map(|a| {
                    Some((
                        a.alert.entities.namespace.clone()?,
                        a.alert.entities.pod.clone()?,
                    ))
                })
                .collect();
            pods.sort();
            pods.dedup();
            for (namespace, pod) in pods {
                let filter = ActionFilter {
                    namespace: Some(namespace),
                    pod: Some(pod),
                    ..ActionFilter::default()
                };
                actions.extend(s.list_actions(&filter, 50)?);
            }
            Ok((incident, alerts, graph, actions))
        })
        .await?;
    let incident = incident.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("incident {id:?} not found"))
    })?;
    let hunt_queries = kdr_incidents::hunt_queries(alerts.iter().map(|a| &a.alert));
    Ok(Json(json!({
        "incident": incident,
        "alerts": alerts,
        "graph": graph,
        "huntQueries": hunt_queries,
        "actions": actions,
    })))
}

async fn incident_status(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<StatusRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "change an incident's status")?;
    let status = parse_status(&request.status)?;
    let actor = principal.name.clone();
    let target = id.clone();
    state
        .with_store(move |s| s.set_incident_status(&target, status, &actor))
        .await?;
    state
        .audit(
            &principal.name,
            "incident.status",
            &id,
            json!({ "status": status.name() }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}

async fn incident_assign(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<AssignRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsManage, "assign an incident")?;
    let actor = principal.name.clone();
    let target = id.clone();
    let assignee = request.assignee.clone().filter(|a| !a.trim().is_empty());
    let recorded = assignee.clone();
    state
        .with_store(move |s| s.assign_incident(&target, assignee.as_deref(), &actor))
        .await?;
    state
        .audit(
            &principal.name,
            "incident.assign",
            &id,
            json!({ "assignee": recorded }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}

// ---------------------------------------------------------------------------------------------
// Hunting

#[derive(Deserialize)]
struct HuntRequest {
    query: String,
    /// json (default) or csv.
    format: Option<String>,
}

async fn hunt(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<HuntRequest>,
) -> ApiResult<Response> {
    principal.require(Permission::AlertsRead, "hunt")?;
    let query = request.query.clone();
    let started = Instant::now();
    let result = state
        .with_store(move |s| s.hunt(&query, now().0, &kdr_kql::Limits::default()))
        .await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match request.format.as_deref() {
        None | Some("json") => Ok(Json(json!({
            "columns": result.columns.iter().map(|c| json!({ "name": c.name, "type": c.ty.kql_name() })).collect::<Vec<_>>(),
            "rows": result.display_rows(),
            "truncated": result.truncated,
            "elapsedMs": elapsed_ms,
        }))
        .into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"hunt.csv\""),
            ],
            result.to_csv(),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad_request(format!(
            "format: {other:?} is not json or csv"
        ))),
    }
}

async fn saved_queries(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::AlertsRead, "list saved queries")?;
    let owner = principal.name.clone();
    let queries = state.with_store(move |s| s.saved_queries(&owner)).await?;
    Ok(Json(json!(queries)))
}

#[derive(Deserialize)]
struct SaveQueryRequest {
    name: String,
    query: String,
}

async fn save_query(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<SaveQueryRequest>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "save queries")?;
    let owner = principal.name.clone();
    state
        .with_store(move |s| s.save_query(&owner, &request.name, &request.query))
        .await?;
    Ok(Json(json!({ "ok": true })))
}

async fn delete_saved_query(
    State(state): AppStateRef,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "delete saved queries")?;
    let owner = principal.name.clone();
    state
        .with_store(move |s| s.delete_saved_query(&owner, &name))
        .await?;
    Ok(Json(json!({ "ok": true })))
}

// ---------------------------------------------------------------------------------------------
// Catalog (report pages)

async fn catalog(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::AlertsRead, "read the alert catalog")?;
    Ok(Json(json!(state.rules.catalog.iter().collect::<Vec<_>>())))
}

async fn catalog_entry(
    State(state): AppStateRef,
    principal: Principal,
    Path(alert_type): Path<String>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "read the alert catalog")?;
    let entry = state.rules.catalog.resolve(&alert_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert type {alert_type:?} in the catalog"),
        )
    })?;
    Ok(Json(json!(entry)))
}

// ---------------------------------------------------------------------------------------------
// Response actions

async fn list_actions(
    State(state): AppStateRef,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "see response actions")?;
    let filter = ActionFilter {
        namespace: text_param(&query, "namespace"),
        pod: text_param(&query, "pod"),
        kind: text_param(&query, "kind"),
        status: text_param(&query, "status"),
    };
    let actions = state
        .with_store(move |s| s.list_actions(&filter, 500))
        .await?;
    Ok(Json(json!(actions)))
}

async fn get_action(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult {
    principal.require(Permission::AlertsRead, "see response actions")?;
    let lookup = id.clone();
    let (action, comments) = state
        .with_store(move |s| Ok((s.get_action(&lookup)?, s.action_comments(&lookup)?)))
        .await?;
    let action = action
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("action {id:?} not found")))?;
    Ok(Json(json!({ "action": action, "comments": comments })))
}

async fn request_action(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<crate::respond::ActionRequest>,
) -> ApiResult {
    principal.require(
        Permission::ResponseManage,
        &format!("{} a pod", request.kind.verb()),
    )?;
    let record = crate::respond::start(&state, &principal.name, request).await?;
    Ok(Json(json!(record)))
}

async fn action_comment(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<CommentRequest>,
) -> ApiResult {
    principal.require(Permission::ResponseManage, "comment on a response action")?;
    let author = principal.name.clone();
    state
        .with_store(move |s| s.comment_action(&id, &author, &request.text))
        .await?;
    Ok(Json(json!({ "ok": true })))
}

// ---------------------------------------------------------------------------------------------
// Users, tokens, audit trail

async fn list_users(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::Admin, "list users")?;
    let users = state.with_store(|s| s.list_users()).await?;
    let users: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "name": u.name,
                "permissions": permissions_from_keys(&u.permissions),
                "disabled": u.disabled,
                "createdAt": u.created_at,
                "updatedAt": u.updated_at,
            })
        })
        .collect();
    Ok(Json(json!(users)))
}

#[derive(Deserialize)]
struct CreateUserRequest {
    name: String,
    password: String,
    #[serde(default)]
    permissions: Vec<String>,
    role: Option<String>,
}

fn requested_permissions(
    permissions: &[String],
    role: Option<&str>,
) -> Result<Vec<Permission>, ApiError> {
    let mut out = match role {
        Some(role) => auth::role_permissions(role).ok_or_else(|| {
            ApiError::bad_request(format!(
                "role: {role:?} is not one of reader, analyst, responder, admin, ingest"
            ))
        })?,
        None => Vec::new(),
    };
    for name in permissions {
        out.push(Permission::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "permissions: {name:?} is not one of {}",
                Permission::ALL.map(|p| p.label()).join(", ")
            ))
        })?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn create_user(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<CreateUserRequest>,
) -> ApiResult {
    principal.require(Permission::Admin, "create users")?;
    auth::check_password_strength(&request.password).map_err(ApiError::bad_request)?;
    let permissions = requested_permissions(&request.permissions, request.role.as_deref())?;
    let password = request.password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let name = request.name.clone();
    let keys = permission_keys(&permissions);
    state
        .with_store(move |s| s.create_user(&name, &hash, &keys))
        .await?;
    state
        .audit(
            &principal.name,
            "user.create",
            &request.name,
            json!({ "permissions": permissions }),
        )
        .await?;
    Ok(Json(
        json!({ "name": request.name, "permissions": permissions }),
    ))
}

#[derive(Deserialize)]
struct UpdateUserRequest {
    password: Option<String>,
    permissions: Option<Vec<String>>,
    role: Option<String>,
    disabled: Option<bool>,
}

async fn update_user(
    State(state): AppStateRef,
    principal: Principal,
    Path(name): Path<String>,
    Json(request): Json<UpdateUserRequest>,
) -> ApiResult {
    principal.require(Permission::Admin, "change users")?;
    let permissions = if request.permissions.is_some() || request.role.is_some() {
        Some(requested_permissions(
            request.permissions.as_deref().unwrap_or_default(),
            request.role.as_deref(),
        )?)
    } else {
        None
    };
    let password_hash = match request.password.clone() {
        Some(password) => {
            auth::check_password_strength(&password).map_err(ApiError::bad_request)?;
            Some(
                tokio::task::spawn_blocking(move || auth::hash_password(&password))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            )
        }
        None => None,
    };
    let change = UserChange {
        password_hash,
        permissions: permissions.as_deref().map(permission_keys),
        disabled: request.disabled,
    };
    let end_sessions = change.password_hash.is_some() || change.disabled == Some(true);
    let target = name.clone();
    state
        .with_store(move |s| {
            s.update_user(&target, &change)?;
            if end_sessions {
                s.delete_user_sessions(&target)?;
            }
            Ok(())
        })
        .await?;
    state
        .audit(
            &principal.name,
            "user.update",
            &name,
            json!({
                "permissions": permissions,
                "disabled": request.disabled,
                "passwordChanged": request.password.is_some(),
            }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}

async fn list_tokens(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::Admin, "list API tokens")?;
    let tokens = state.with_store(|s| s.list_tokens()).await?;
    Ok(Json(json!(tokens)))
}

#[derive(Deserialize)]
struct CreateTokenRequest {
    name: String,
    #[serde(default)]
    permissions: Vec<String>,
    role: Option<String>,
    /// Owner whose permissions bound the token; default: the caller.
    owner: Option<String>,
}

async fn create_token(
    State(state): AppStateRef,
    principal: Principal,
    Json(request): Json<CreateTokenRequest>,
) -> ApiResult {
    principal.require(Permission::Admin, "create API tokens")?;
    let permissions = requested_permissions(&request.permissions, request.role.as_deref())?;
    let issued = IssuedToken::generate();
    let record = TokenRecord {
        id: issued.id.clone(),
        name: request.name.clone(),
        owner: request
            .owner
            .clone()
            .unwrap_or_else(|| principal.name.clone()),
        secret_hash: auth::sha256_hex(&issued.secret),
        permissions: permission_keys(&permissions),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    state.with_store(move |s| s.create_token(&record)).await?;
    state
        .audit(
            &principal.name,
            "token.create",
            &issued.id,
            json!({ "name": request.name, "permissions": permissions }),
        )
        .await?;
    Ok(Json(
        json!({ "id": issued.id, "token": issued.text(), "permissions": permissions }),
    ))
}

async fn revoke_token(
    State(state): AppStateRef,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult {
    principal.require(Permission::Admin, "revoke API tokens")?;
    let target = id.clone();
    state.with_store(move |s| s.revoke_token(&target)).await?;
    state
        .audit(&principal.name, "token.revoke", &id, json!({}))
        .await?;
    Ok(Json(json!({ "ok": true })))
}

async fn audit_trail(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::Admin, "read the audit trail")?;
    let entries = state.with_store(|s| s.audit_trail(500)).await?;
    Ok(Json(json!(entries)))
}

async fn stats(State(state): AppStateRef, principal: Principal) -> ApiResult {
    principal.require(Permission::AlertsRead, "read kdr's counters")?;
    Ok(Json(json!({ "ingest": &*state.ingest.stats })))
}

// ---------------------------------------------------------------------------------------------
// Ingest: the audit webhook and remote sensors

/// The API server's audit webhook backend POSTs `audit.k8s.io/v1` `EventList` batches.
async fn audit_webhook(State(state): AppStateRef, principal: Principal, body: Bytes) -> ApiResult {
    principal.require(Permission::IngestWrite, "send audit events")?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| invalid_body(&state, format!("request body: not UTF-8 ({e})")))?;
    let mut events = Vec::new();
    kdr_decode::decode_record(text, &mut events)
        .map_err(|e| invalid_body(&state, format!("request body: {e}")))?;
    store_events(&state, events).await
}

/// Remote sensors POST kdr events, one JSON object per line (what `kdr sensor --events`
/// writes). The whole request is refused if any line is invalid, naming the line.
async fn ingest_events(
    State(state): AppStateRef,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    principal.require(Permission::IngestWrite, "send events")?;
    let source = headers
        .get("x-kdr-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("request body")
        .chars()
        .take(100)
        .collect::<String>();
    let reader = kdr_decode::EventReader::new(&source, std::io::Cursor::new(body));
    let mut events: Vec<Event> = Vec::new();
    for item in reader {
        events.push(item.map_err(|e| invalid_body(&state, e.to_string()))?);
    }
    store_events(&state, events).await
}

fn invalid_body(state: &AppState, message: String) -> ApiError {
    state.ingest.note_invalid();
    ApiError::bad_request(message)
}

async fn store_events(state: &Arc<AppState>, events: Vec<Event>) -> ApiResult {
    let count = events.len();
    match state
        .ingest
        .store(events, state.options.ingest_patience)
        .await
    {
        Ok(()) => Ok(Json(json!({ "stored": count }))),
        Err(IngestError::Busy) => {
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                IngestError::Busy.to_string(),
            );
            error.retry_after = Some(std::time::Duration::from_secs(1));
            Err(error)
        }
        Err(other) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            other.to_string(),
        )),
    }
}
