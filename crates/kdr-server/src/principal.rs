//! Who is calling: a console session (cookie, plus a CSRF token on changes) or an API token
//! (bearer). Extracted once per request; handlers then ask for the permission they need.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};

use crate::auth::{self, grants, permissions_from_keys, IssuedToken, Permission};
use crate::{now, ApiError, AppState};

pub const SESSION_COOKIE: &str = "kdr_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Clone, Debug)]
pub enum Credential {
    Session { id_hash: String, csrf_token: String },
    Token { id: String },
}

#[derive(Clone, Debug)]
pub struct Principal {
    /// The user name, or `token:<id>` for tokens, as recorded in histories.
    pub name: String,
    pub permissions: Vec<Permission>,
    pub credential: Credential,
}

impl Principal {
    /// Refuses with the missing permission's name and what the caller tried to do.
    pub fn require(&self, permission: Permission, doing: &str) -> Result<(), ApiError> {
        if grants(&self.permissions, permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(permission, doing))
        }
    }

    pub fn has(&self, permission: Permission) -> bool {
        grants(&self.permissions, permission)
    }
}

pub fn session_cookie_value(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(presented) = bearer(parts) {
            return token_principal(state, presented).await;
        }
        let Some(session_id) = session_cookie_value(parts) else {
            return Err(ApiError::unauthorized());
        };
        let id_hash = auth::sha256_hex(&session_id);
        let lookup = id_hash.clone();
        let at = now();
        let Some(session) = state
            .with_store(move |s| s.get_session(&lookup, at))
            .await?
        else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the session has expired or ended; sign in again",
            ));
        };
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !auth::same_secret(presented, &session.csrf_token) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token (header X-CSRF-Token)",
                ));
            }
        }
        let name = session.user_name.clone();
        let lookup = name.clone();
        let user = state.with_store(move |s| s.get_user(&lookup)).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this user no longer exists or is disabled",
            ));
        };
        Ok(Principal {
            name,
            permissions: permissions_from_keys(&user.permissions),
            credential: Credential::Session {
                id_hash,
                csrf_token: session.csrf_token,
            },
        })
    }
}

async fn token_principal(state: &Arc<AppState>, presented: &str) -> Result<Principal, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the API token is not valid (unknown, malformed or revoked)",
        )
    };
    let (id, secret) = IssuedToken::parse(presented).ok_or_else(invalid)?;
    let lookup = id.to_owned();
    let token = state
        .with_store(move |s| s.get_token(&lookup))
        .await?
        .filter(|t| t.revoked_at.is_none())
        .ok_or_else(invalid)?;
    if !auth::same_secret(&auth::sha256_hex(secret), &token.secret_hash) {
        return Err(invalid());
    }
    // A token is never more than its owner: a disabled owner disables it, and it keeps
    // only the permissions the owner still has (machine tokens owned by no user excepted).
    let mut permissions = permissions_from_keys(&token.permissions);
    if !token.owner.is_empty() {
        let owner = token.owner.clone();
        let user = state.with_store(move |s| s.get_user(&owner)).await?;
        match user.filter(|u| !u.disabled) {
            Some(user) => {
                let owner_permissions = permissions_from_keys(&user.permissions);
                permissions
                    .retain(|p| grants(&owner_permissions, *p) || *p == Permission::IngestWrite);
            }
            None => return Err(invalid()),
        }
    }
    let id = token.id.clone();
    let at = now();
    // Last use to the minute: a write per request would compete with ingest for nothing.
    if token
        .last_used_at
        .is_none_or(|last| at.0.saturating_sub(last.0) > 60 * kdr_model::NANOS_PER_SEC)
    {
        let touched = id.clone();
        state
            .with_store(move |s| s.touch_token(&touched, at))
            .await?;
    }
    Ok(Principal {
        name: format!("token:{id}"),
        permissions,
        credential: Credential::Token { id },
    })
}
