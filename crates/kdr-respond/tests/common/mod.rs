//! A stand-in cluster and a responder connected to it through a written kubeconfig, as kdr
//! connects to a real cluster.

use kdr_kube_standin::{write_kubeconfig, PodSeed, RecordedRequest, Seed, StandIn};
use kdr_respond::{ClusterSource, Responder};
use tempfile::TempDir;

pub const AZURE_NPM: &str = "mcr.microsoft.com/containernetworking/azure-npm:v1.5.34";
pub const CALICO: &str = "docker.io/calico/node:v3.26.1";
pub const CILIUM: &str =
    "quay.io/cilium/cilium:v1.14.2@sha256:6263f3a3d5d63b267b538298dbeb5ae87da3efacf09a2c620446c873ba807d35";

pub struct Cluster {
    pub standin: StandIn,
    pub responder: Responder,
    _dir: TempDir,
}

impl Cluster {
    pub async fn start(seed: Seed) -> Cluster {
        let standin = StandIn::start(seed).await.expect("stand-in starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kubeconfig");
        write_kubeconfig(&path, &[standin.context("test")]).expect("kubeconfig written");
        let responder = Responder::connect(&ClusterSource::Kubeconfig {
            path: Some(path),
            context: None,
        })
        .await
        .expect("responder connects");
        Cluster {
            standin,
            responder,
            _dir: dir,
        }
    }

    /// `METHOD path` of every request so far, and forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        self.standin
            .take_requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Requests that change something (anything but GET).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.standin
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    pub fn pod_labels(&self, namespace: &str, name: &str) -> serde_json::Value {
        self.standin
            .object("v1", "pods", namespace, name)
            .expect("pod exists")
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_default()
    }

    pub fn network_policy(&self, namespace: &str, name: &str) -> Option<serde_json::Value> {
        self.standin
            .object("networking.k8s.io/v1", "networkpolicies", namespace, name)
    }
}

/// Kubernetes 1.29 with Azure NPM (no deny policies of its own) and workload pods in `shop`:
/// `web-1` (app=web, Running), `job-1` (Pending).
pub fn azure_cluster() -> Seed {
    Seed::new("v1.29.3")
        .plugin_pod("kube-system", "azure-npm-x1", "azure-npm", AZURE_NPM)
        .workload(
            "shop",
            "web-1",
            &[("app", "web"), ("tier", "frontend")],
            "Running",
        )
        .workload("shop", "job-1", &[("app", "job")], "Pending")
}

pub fn calico_pod(namespace: &str, image: &str) -> PodSeed {
    PodSeed::new(namespace, "calico-node-a1")
        .label("k8s-app", "calico-node")
        .container("calico-node", image)
}
