//! A response runner for servers that have no cluster to act on (tests, benchmarks): every
//! action fails, saying so.

use kdr_server::respond::{ActionRequest, ActionStatus, BoxFuture, ResponseRunner, RunOutcome};

pub struct NoCluster;

impl ResponseRunner for NoCluster {
    fn run<'a>(&'a self, _: &'a ActionRequest) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async {
            RunOutcome {
                status: ActionStatus::Failed,
                error: Some("no cluster: this server runs without one".into()),
                details: serde_json::json!({}),
            }
        })
    }

    fn default_context(&self) -> Option<String> {
        None
    }
}
