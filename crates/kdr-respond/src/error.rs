//! Why an action failed: a pre-check, an API answer, or the client itself.

use crate::outcome::ActionFailure;
use crate::precheck::PreCheckError;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("invalid {what} name {name:?}: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: &'static str,
    },
    #[error(transparent)]
    PreCheck(#[from] PreCheckError),
    #[error("{step}: the API server answered {code} {reason}: {message}")]
    Api {
        step: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{step}: {message}")]
    Client { step: String, message: String },
}

/// Names what was being done when the API call failed.
pub fn api_error(step: impl Into<String>, err: kube::Error) -> ActionError {
    let step = step.into();
    match err {
        kube::Error::Api(response) => ActionError::Api {
            step,
            code: response.code,
            reason: response.reason,
            message: response.message,
        },
        other => ActionError::Client {
            step,
            message: other.to_string(),
        },
    }
}

/// Whether an API call failed with this HTTP status.
pub fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(response) if response.code == code)
}

impl ActionError {
    pub fn to_failure(&self) -> ActionFailure {
        let (code, reason) = match self {
            ActionError::InvalidName { .. } => (None, "InvalidName".to_string()),
            ActionError::PreCheck(check) => (None, check.reason().to_string()),
            ActionError::Api { code, reason, .. } => (Some(*code), reason.clone()),
            ActionError::Client { .. } => (None, "ClientError".to_string()),
        };
        ActionFailure {
            code,
            reason,
            message: self.to_string(),
        }
    }
}

/// Namespaces are DNS labels; pod names DNS subdomains. Checked before any request so a
/// malformed name from a user never reaches a URL.
pub fn check_names(namespace: &str, pod: &str) -> Result<(), ActionError> {
    const RULE: &str = "must be lower case alphanumeric characters, '-' (and '.' in pod names), \
                        starting and ending with an alphanumeric character";
    let valid = |name: &str, max: usize, dots: bool| {
        !name.is_empty()
            && name.len() <= max
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
            })
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if !valid(namespace, 63, false) {
        return Err(ActionError::InvalidName {
            what: "namespace",
            name: namespace.chars().take(300).collect(),
            why: RULE,
        });
    }
    if !valid(pod, 253, true) {
        return Err(ActionError::InvalidName {
            what: "pod",
            name: pod.chars().take(300).collect(),
            why: RULE,
        });
    }
    Ok(())
}
