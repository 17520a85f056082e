//! Container metadata from what the node already has: the OCI bundle `config.json` that every
//! runtime writes before starting a container (CRI runtimes put the pod's identity in its
//! annotations), plus the runtimes' own records for names they keep elsewhere.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::cgroup::{ContainerRef, Runtime};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub privileged: Option<bool>,
}

#[derive(Deserialize, Default)]
struct OciConfig {
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    process: Option<OciProcess>,
    #[serde(default)]
    linux: Option<OciLinux>,
}

#[derive(Deserialize, Default)]
struct OciProcess {
    #[serde(default)]
    capabilities: Option<OciCaps>,
}

#[derive(Deserialize, Default)]
struct OciCaps {
    #[serde(default)]
    bounding: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OciLinux {
    #[serde(default)]
    masked_paths: Option<Vec<String>>,
}

fn first(ann: &HashMap<String, String>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| ann.get(*k))
        .filter(|v| !v.is_empty())
        .cloned()
}

/// Metadata from the text of an OCI runtime `config.json`.
pub fn parse_oci_config(id: &str, json: &str) -> Result<ContainerInfo, serde_json::Error> {
    let c: OciConfig = serde_json::from_str(json)?;
    let a = &c.annotations;
    let privileged = match a.get("io.podman.annotations.privileged") {
        Some(v) => Some(v.eq_ignore_ascii_case("true")),
        // Privileged containers get every capability and no masked /proc paths; unprivileged
        // ones never lack masked paths with all capabilities.
        None => {
            let caps = c
                .process
                .as_ref()
                .and_then(|p| p.capabilities.as_ref())
                .map(|c| c.bounding.as_slice())
                .unwrap_or_default();
            let sys_admin = caps.iter().any(|c| c == "CAP_SYS_ADMIN");
            let masked = c
                .linux
                .as_ref()
                .and_then(|l| l.masked_paths.as_ref())
                .is_some_and(|m| !m.is_empty());
            Some(sys_admin && !masked)
        }
    };
    Ok(ContainerInfo {
        id: id.to_string(),
        name: first(
            a,
            &[
                "io.kubernetes.cri.container-name",
                "io.kubernetes.container.name",
            ],
        ),
        pod: first(
            a,
            &["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"],
        ),
        namespace: first(
            a,
            &[
                "io.kubernetes.cri.sandbox-namespace",
                "io.kubernetes.pod.namespace",
            ],
        ),
        image: first(
            a,
            &[
                "io.kubernetes.cri.image-name",
                "io.kubernetes.cri-o.ImageName",
                "org.opencontainers.image.ref.name",
            ],
        ),
        image_id: first(
            a,
            &["io.kubernetes.cri.image-id", "io.kubernetes.cri-o.ImageRef"],
        ),
        privileged,
    })
}

/// Finds and reads container metadata under a host root (`/` on a node; a temp dir in tests).
pub struct MetaSource {
    root: PathBuf,
}

#[derive(Deserialize)]
struct StorageContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
struct RuncState {
    config: RuncStateConfig,
}

#[derive(Deserialize)]
struct RuncStateConfig {
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfigV2 {
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    config: Option<DockerInner>,
    #[serde(default)]
    host_config: Option<DockerHost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerInner {
    #[serde(default)]
    image: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerHost {
    #[serde(default)]
    privileged: bool,
}

/// Bundles bigger than this are not read (a hostile or broken file must not stall the sensor).
const MAX_JSON: u64 = 4 << 20;

fn read_small(p: &Path) -> Option<String> {
    let m = fs::metadata(p).ok()?;
    if m.len() > MAX_JSON {
        return None;
    }
    fs::read_to_string(p).ok()
}

impl MetaSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        MetaSource { root: root.into() }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Candidate `config.json` paths for a container id, most specific first.
    fn bundle_candidates(&self, c: &ContainerRef) -> Vec<PathBuf> {
        let id = &c.id;
        let mut v = Vec::new();
        // containerd v2 shims: one directory per containerd namespace (k8s.io, moby, ...)
        for base in [
            "/run/containerd/io.containerd.runtime.v2.task",
            "/run/docker/containerd/daemon/io.containerd.runtime.v2.task",
        ] {
            if let Ok(rd) = fs::read_dir(self.p(base)) {
                for ns in rd.flatten() {
                    v.push(ns.path().join(id).join("config.json"));
                }
            }
        }
        // CRI-O and podman (containers/storage): run root, then graph root
        for base in [
            "/run/containers/storage/overlay-containers",
            "/var/lib/containers/storage/overlay-containers",
        ] {
            v.push(self.p(base).join(id).join("userdata/config.json"));
        }
        // runc state names the bundle, whoever started it
        for base in ["/run/runc", "/run/containerd/runc/k8s.io", "/run/crun"] {
            let state = self.p(base).join(id).join("state.json");
            if let Some(text) = read_small(&state) {
                if let Ok(s) = serde_json::from_str::<RuncState>(&text) {
                    for l in s.config.labels {
                        if let Some(b) = l.strip_prefix("bundle=") {
                            v.push(self.p(b).join("config.json"));
                        }
                    }
                }
            }
        }
        v
    }

    /// What the node knows about a container; `None` when nothing was found (yet).
    pub fn lookup(&self, c: &ContainerRef) -> Option<ContainerInfo> {
        let mut info = self.bundle_candidates(c).into_iter().find_map(|p| {
            let text = read_small(&p)?;
            parse_oci_config(&c.id, &text).ok()
        });
        if let Some(d) = self.docker(&c.id) {
            let i = info.get_or_insert_with(|| ContainerInfo {
                id: c.id.clone(),
                ..Default::default()
            });
            i.name = i.name.take().or(d.name);
            i.image = i.image.take().or(d.image);
            i.image_id = i.image_id.take().or(d.image_id);
            i.privileged = d.privileged.or(i.privileged);
        }
        if matches!(c.runtime, Runtime::Podman | Runtime::CriO) {
            if let Some(i) = info.as_mut() {
                if i.name.is_none() {
                    i.name = self.storage_name(&c.id);
                }
            }
        }
        info
    }

    /// The name containers/storage recorded for the container (podman, CRI-O).
    fn storage_name(&self, id: &str) -> Option<String> {
        for base in [
            "/var/lib/containers/storage/overlay-containers/containers.json",
            "/run/containers/storage/overlay-containers/volatile-containers.json",
        ] {
            let Some(text) = read_small(&self.p(base)) else {
                continue;
            };
            let Ok(list) = serde_json::from_str::<Vec<StorageContainer>>(&text) else {
                continue;
            };
            if let Some(c) = list.into_iter().find(|c| c.id == id) {
                return c.names.into_iter().next();
            }
        }
        None
    }

    fn docker(&self, id: &str) -> Option<ContainerInfo> {
        let p = self
            .p("/var/lib/docker/containers")
            .join(id)
            .join("config.v2.json");
        let d: DockerConfigV2 = serde_json::from_str(&read_small(&p)?).ok()?;
        Some(ContainerInfo {
            id: id.to_string(),
            name: Some(d.name.trim_start_matches('/').to_string()).filter(|s| !s.is_empty()),
            image: d.config.map(|c| c.image).filter(|s| !s.is_empty()),
            image_id: Some(d.image).filter(|s| !s.is_empty()),
            privileged: d.host_config.map(|h| h.privileged),
            ..Default::default()
        })
    }
}

/// Container metadata cached by id. Misses are retried after a short delay, since the
/// runtime's records can appear a moment after its first process.
pub struct MetaCache {
    source: MetaSource,
    entries: FxHashMap<String, (Option<ContainerInfo>, Instant)>,
}

const MISS_RETRY: Duration = Duration::from_millis(500);
const MAX_ENTRIES: usize = 8192;

impl MetaCache {
    pub fn new(source: MetaSource) -> Self {
        MetaCache {
            source,
            entries: FxHashMap::default(),
        }
    }

    /// Per event of a container: a hit reads no clock (only a miss's age matters).
    pub fn get(&mut self, c: &ContainerRef) -> Option<ContainerInfo> {
        let now = match self.entries.get(&c.id) {
            Some((Some(info), _)) => return Some(info.clone()),
            Some((None, at)) => {
                let now = Instant::now();
                if now.duration_since(*at) < MISS_RETRY {
                    return None;
                }
                now
            }
            None => Instant::now(),
        };
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        let info = self.source.lookup(c);
        self.entries.insert(c.id.clone(), (info.clone(), now));
        info
    }

    /// Forgets a container so that its metadata is read again (on its next start).
    pub fn invalidate(&mut self, id: &str) {
        self.entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "85a5f5baa16e7c44217b1723c27ae290426c5218d638fff1e0c1ffc026ab5f3e";

    fn cref(runtime: Runtime) -> ContainerRef {
        ContainerRef {
            runtime,
            id: ID.into(),
            pod_uid: None,
        }
    }

    #[test]
    fn containerd_annotations() {
        let j = r#"{"ociVersion":"1.1.0","annotations":{
            "io.kubernetes.cri.container-name":"web","io.kubernetes.cri.sandbox-name":"web-7d9f",
            "io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.image-name":"nginx:1.27",
            "io.kubernetes.cri.container-type":"container"},
            "process":{"capabilities":{"bounding":["CAP_CHOWN"]}},
            "linux":{"maskedPaths":["/proc/kcore"]}}"#;
        let i = parse_oci_config(ID, j).unwrap();
        assert_eq!(i.name.as_deref(), Some("web"));
        assert_eq!(i.pod.as_deref(), Some("web-7d9f"));
        assert_eq!(i.namespace.as_deref(), Some("shop"));
        assert_eq!(i.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(i.privileged, Some(false));
    }

    #[test]
    fn crio_annotations_and_privileged() {
        let j = r#"{"annotations":{"io.kubernetes.container.name":"agent",
            "io.kubernetes.pod.name":"agent-x","io.kubernetes.pod.namespace":"kube-system",
            "io.kubernetes.cri-o.ImageName":"quay.io/a/b:1","io.kubernetes.cri-o.ImageRef":"sha256:abc"},
            "process":{"capabilities":{"bounding":["CAP_SYS_ADMIN","CAP_NET_ADMIN"]}},
            "linux":{}}"#;
        let i = parse_oci_config(ID, j).unwrap();
        assert_eq!(i.name.as_deref(), Some("agent"));
        assert_eq!(i.namespace.as_deref(), Some("kube-system"));
        assert_eq!(i.image_id.as_deref(), Some("sha256:abc"));
        assert_eq!(i.privileged, Some(true));
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(parse_oci_config(ID, "{\"annotations\": 5}").is_err());
        assert!(parse_oci_config(ID, "{").is_err());
    }

    #[test]
    fn finds_bundles_by_layout() {
        let root = std::env::temp_dir().join(format!("kdr-meta-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let put = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        let src = MetaSource::new(&root);
        assert_eq!(src.lookup(&cref(Runtime::Podman)), None);

        // podman: bundle in the graph root, name in containers.json
        put(
            &format!("var/lib/containers/storage/overlay-containers/{ID}/userdata/config.json"),
            r#"{"annotations":{"io.podman.annotations.privileged":"TRUE"}}"#,
        );
        put(
            "var/lib/containers/storage/overlay-containers/containers.json",
            &format!(r#"[{{"id":"{ID}","names":["t1"]}}]"#),
        );
        let i = src.lookup(&cref(Runtime::Podman)).unwrap();
        assert_eq!(i.name.as_deref(), Some("t1"));
        assert_eq!(i.privileged, Some(true));

        // containerd in namespace k8s.io wins over the storage bundle
        put(
            &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-name":"c"}}"#,
        );
        let i = src.lookup(&cref(Runtime::Kubernetes)).unwrap();
        assert_eq!(i.name.as_deref(), Some("c"));

        // docker's own record
        put(
            &format!("var/lib/docker/containers/{ID}/config.v2.json"),
            r#"{"Name":"/db","Image":"sha256:def","Config":{"Image":"postgres:16"},"HostConfig":{"Privileged":true}}"#,
        );
        let i = src.lookup(&cref(Runtime::Docker)).unwrap();
        assert_eq!(i.name.as_deref(), Some("c"));
        assert_eq!(i.image.as_deref(), Some("postgres:16"));
        assert_eq!(i.image_id.as_deref(), Some("sha256:def"));
        assert_eq!(i.privileged, Some(true));

        // runc state pointing at a bundle anywhere
        let other = "2".repeat(64);
        put(
            &format!("run/runc/{other}/state.json"),
            r#"{"config":{"labels":["bundle=/srv/b1"]}}"#,
        );
        put(
            "srv/b1/config.json",
            r#"{"annotations":{"io.kubernetes.cri.sandbox-name":"p"}}"#,
        );
        let c = ContainerRef {
            runtime: Runtime::Kubernetes,
            id: other,
            pod_uid: None,
        };
        assert_eq!(src.lookup(&c).unwrap().pod.as_deref(), Some("p"));
        let _ = fs::remove_dir_all(&root);
    }
}
