//! kdr's response actions on a Kubernetes pod, through the Kubernetes API with kube-rs:
//! isolate it (a label, a deny-all NetworkPolicy, the plugin's own deny policy where Calico
//! or Cilium offer one), release it, terminate it. Pre-checks refuse with a precise reason
//! before anything changes; every action is idempotent and returns an [`ActionOutcome`].
//! See docs/response.md.

mod connect;
mod error;
mod outcome;
mod policy;
mod precheck;
mod responder;
mod selector;
mod version;

pub use connect::{
    kubeconfig_contexts, ClusterSource, ConnectError, KubeconfigContexts, IN_CLUSTER,
};
pub use outcome::{Action, ActionFailure, ActionOutcome, ActionStatus};
pub use policy::{isolation_id, policy_name, ISOLATION_LABEL, POD_ANNOTATION};
pub use precheck::{NetworkPlugin, MIN_SERVER_RELEASE};
pub use responder::Responder;
pub use version::Version;
