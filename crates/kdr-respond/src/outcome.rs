//! What an action did, in a form the caller stores and shows.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use kdr_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::ActionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Isolate,
    Release,
    Terminate,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Isolate => "isolation",
            Action::Release => "release",
            Action::Terminate => "termination",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    /// Done in full (for isolation: no traffic can reach or leave the pod through policies).
    Succeeded,
    /// Isolation is in place, but policies kdr cannot override still allow some traffic;
    /// `details` and `allowingPolicies` name them.
    Partial,
    Failed,
}

/// Why an action failed. `code` is the HTTP status when the API server refused a request;
/// `reason` is its Status reason (e.g. `Forbidden`) or kdr's pre-check reason (e.g.
/// `PodNotRunning`); `message` says what was found and what is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    pub action: Action,
    /// The kubeconfig context, or `in-cluster`.
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub status: ActionStatus,
    /// What was checked, created, changed or removed, in order, as sentences.
    pub details: Vec<String>,
    /// Other NetworkPolicies that select the pod and allow traffic, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowing_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ActionFailure>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

pub(crate) fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
        });
    Timestamp(nanos)
}

/// An action under way: collects details until it finishes.
pub(crate) struct Progress {
    outcome: ActionOutcome,
}

impl Progress {
    pub fn start(action: Action, cluster: &str, namespace: &str, pod: &str) -> Self {
        let started_at = now();
        Progress {
            outcome: ActionOutcome {
                action,
                cluster: cluster.to_string(),
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                status: ActionStatus::Failed,
                details: Vec::new(),
                allowing_policies: Vec::new(),
                error: None,
                started_at,
                finished_at: started_at,
            },
        }
    }

    pub fn note(&mut self, detail: impl Into<String>) {
        self.outcome.details.push(detail.into());
    }

    pub fn allowing_policy(&mut self, name: &str) {
        self.outcome.allowing_policies.push(name.to_string());
    }

    pub fn allowing_policies(&self) -> &[String] {
        &self.outcome.allowing_policies
    }

    pub fn finish(mut self, result: Result<ActionStatus, ActionError>) -> ActionOutcome {
        match result {
            Ok(status) => self.outcome.status = status,
            Err(err) => {
                self.outcome.status = ActionStatus::Failed;
                self.outcome.error = Some(err.to_failure());
            }
        }
        self.outcome.finished_at = now();
        self.outcome
    }
}
