//! A local stand-in for the Kubernetes API server, for testing code that talks to Kubernetes
//! (kdr's response actions) without a cluster.
//!
//! It listens on `127.0.0.1` on a random port and speaks the real REST protocol over plain
//! HTTP: `GET /version`; pods (`/api/v1/namespaces/{ns}/pods[/{name}]` and `/api/v1/pods`);
//! NetworkPolicies (`/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies[/{name}]`);
//! the namespaced custom resource types named in the seed; discovery of
//! `/apis/{group}/{version}`. Lists honour `labelSelector`; GET, POST, PUT, PATCH
//! (merge and strategic-merge on maps) and DELETE follow the API server's rules and answer
//! failures with real `Status` objects. Requests must carry the seed's bearer token.
//!
//! Every request is recorded (method, path, query, content type, body) for assertions, and
//! also served, unauthenticated, at `GET /_standin/requests` for tests in other processes.
//!
//! What it does not do (and refuses with a Status rather than pretending): watches, field
//! selectors, paging, dry runs, JSON patches, server-side apply, strategic list merging.
//! Deleting removes the object at once (there is no kubelet to wait for).

mod patch;
mod seed;
mod selector;
mod server;
mod status;
mod store;
mod validate;

pub use seed::{ContainerSeed, CustomResourceType, PodSeed, Seed, SeedFileError, DEFAULT_TOKEN};
pub use server::{
    write_kubeconfig, KubeContext, RecordedRequest, StandIn, StandInError, JOURNAL_PATH,
};
