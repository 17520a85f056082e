//! Which cluster an action goes to: a kubeconfig context or the credentials Kubernetes
//! mounts into kdr's own pod.

use std::path::{Path, PathBuf};

use kube::config::{InClusterError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::responder::Responder;

/// The label of a responder built from in-cluster credentials.
pub const IN_CLUSTER: &str = "in-cluster";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A kubeconfig: the file at `path`, or `KUBECONFIG` / `~/.kube/config` when `None`;
    /// the named context, or the file's current context when `None`.
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    /// The service account token and CA Kubernetes mounts into the pod kdr runs in.
    InCluster,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("reading kubeconfig {location}: {source}")]
    Kubeconfig {
        location: String,
        source: KubeconfigError,
    },
    #[error("kubeconfig {location} has no current-context and no context was named")]
    NoContext { location: String },
    #[error("kubeconfig {location} has no context {context:?} (it has: {available})")]
    UnknownContext {
        location: String,
        context: String,
        available: String,
    },
    #[error("in-cluster credentials: {0}")]
    InCluster(#[source] InClusterError),
    #[error("building the Kubernetes client for {cluster}: {source}")]
    Client {
        cluster: String,
        source: Box<kube::Error>,
    },
}

/// The contexts of a kubeconfig, for choosing among several clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigContexts {
    pub current: Option<String>,
    pub names: Vec<String>,
    /// The cluster entry each context (in `names`' order) points at.
    pub clusters: Vec<String>,
}

impl KubeconfigContexts {
    /// The context that reaches the cluster alerts call `cluster`: the context of that name,
    /// else the one whose cluster entry has that name. `None` when none does.
    pub fn for_cluster(&self, cluster: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|name| *name == cluster)
            .or_else(|| {
                self.names
                    .iter()
                    .zip(&self.clusters)
                    .find(|(_, entry)| *entry == cluster)
                    .map(|(name, _)| name)
            })
            .map(String::as_str)
    }
}

fn location(path: Option<&Path>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "from KUBECONFIG or ~/.kube/config".to_string(),
    }
}

fn read_kubeconfig(path: Option<&Path>) -> Result<Kubeconfig, ConnectError> {
    match path {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|source| ConnectError::Kubeconfig {
        location: location(path),
        source,
    })
}

/// Lists a kubeconfig's contexts (`path` as in [`ClusterSource::Kubeconfig`]).
pub fn kubeconfig_contexts(path: Option<&Path>) -> Result<KubeconfigContexts, ConnectError> {
    let kubeconfig = read_kubeconfig(path)?;
    Ok(KubeconfigContexts {
        current: kubeconfig.current_context.clone(),
        names: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        clusters: kubeconfig
            .contexts
            .iter()
            .map(|c| {
                c.context
                    .as_ref()
                    .map(|context| context.cluster.clone())
                    .unwrap_or_default()
            })
            .collect(),
    })
}

impl Responder {
    /// A responder for the cluster `source` names; its outcomes carry the context name (or
    /// `in-cluster`).
    pub async fn connect(source: &ClusterSource) -> Result<Responder, ConnectError> {
        let (config, cluster) = match source {
            ClusterSource::Kubeconfig { path, context } => {
                let path = path.as_deref();
                let kubeconfig = read_kubeconfig(path)?;
                let context = context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone())
                    .ok_or_else(|| ConnectError::NoContext {
                        location: location(path),
                    })?;
                if !kubeconfig.contexts.iter().any(|c| c.name == context) {
                    return Err(ConnectError::UnknownContext {
                        location: location(path),
                        available: kubeconfig
                            .contexts
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        context,
                    });
                }
                let options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|source| ConnectError::Kubeconfig {
                        location: location(path),
                        source,
                    })?;
                (config, context)
            }
            ClusterSource::InCluster => (
                Config::incluster().map_err(ConnectError::InCluster)?,
                IN_CLUSTER.to_string(),
            ),
        };
        let client = Client::try_from(config).map_err(|source| ConnectError::Client {
            cluster: cluster.clone(),
            source: Box::new(source),
        })?;
        Ok(Responder::new(client, &cluster))
    }
}

#[cfg(test)]
mod tests {
    use super::KubeconfigContexts;

    #[test]
    fn a_cluster_is_reached_by_its_context_name_or_its_cluster_entry() {
        let contexts = KubeconfigContexts {
            current: Some("admin@prod-eu".to_owned()),
            names: vec!["admin@prod-eu".to_owned(), "staging".to_owned()],
            clusters: vec!["prod-eu".to_owned(), "staging-cluster".to_owned()],
        };
        assert_eq!(contexts.for_cluster("prod-eu"), Some("admin@prod-eu"));
        assert_eq!(contexts.for_cluster("staging"), Some("staging"));
        assert_eq!(contexts.for_cluster("staging-cluster"), Some("staging"));
        assert_eq!(contexts.for_cluster("dev"), None);
    }
}
