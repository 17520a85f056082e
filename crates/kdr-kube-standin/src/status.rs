//! Failures as the API server reports them: a `v1` `Status` object with the HTTP code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiStatus {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiStatus {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        ApiStatus {
            code,
            reason,
            message,
            details: None,
        }
    }

    pub fn not_found(resource: &str, name: &str) -> Self {
        ApiStatus {
            details: Some(json!({"name": name, "kind": resource})),
            ..Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
        }
    }

    /// A path the server has no handler or resource type for.
    pub fn no_such_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
        )
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        ApiStatus {
            details: Some(json!({"name": name, "kind": resource})),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{resource} \"{name}\" already exists"),
            )
        }
    }

    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        ApiStatus {
            details: Some(json!({"name": name, "kind": resource})),
            ..Self::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
            )
        }
    }

    pub fn bad_request(message: String) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn invalid(resource: &str, name: &str, field: &str, why: &str) -> Self {
        ApiStatus {
            details: Some(json!({
                "name": name,
                "kind": resource,
                "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}],
            })),
            ..Self::new(
                422,
                "Invalid",
                format!("{resource} \"{name}\" is invalid: {field}: {why}"),
            )
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".to_string())
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource: {method}"),
        )
    }

    pub fn unsupported_media_type(message: String) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiStatus {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(self.to_json())).into_response()
    }
}
