//! From a cgroup path to the container it belongs to. Pure functions: every runtime and
//! cgroup driver layout is covered by the unit tests below.
//!
//! Layouts (the same path appears in every v1 hierarchy and in the v2 tree):
//! - containerd, systemd driver: `/kubepods.slice/kubepods-burstable.slice/
//!   kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`
//! - containerd / Docker (dockershim), cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>`
//! - CRI-O: `.../crio-<id>.scope` (systemd), `.../crio-<id>` (cgroupfs);
//!   `crio-conmon-<id>.scope` is the monitor, not the container
//! - Docker: `/system.slice/docker-<id>.scope` (systemd), `/docker/<id>` (cgroupfs)
//! - podman: `/machine.slice/libpod-<id>.scope` (systemd, also under user slices when
//!   rootless), `/libpod_parent/libpod-<id>` (cgroupfs); `libpod-conmon-<id>` is the monitor
//!
//! A container's own sub-cgroups (`.../<id>.scope/init.scope`, nested runtimes) belong to the
//! outermost container found, which is the one the node's runtime knows.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Containerd,
    CriO,
    Docker,
    Podman,
    /// A bare container id under a Kubernetes pod cgroup (cgroupfs driver): containerd or
    /// Docker, told apart by where its bundle is.
    Kubernetes,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    pub runtime: Runtime,
    /// The full 64-hex container id.
    pub id: String,
    /// The pod UID (dashed form) when the path has a Kubernetes pod level.
    pub pod_uid: Option<String>,
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `prefix-<id>` or `prefix-<id>.scope` -> id.
fn prefixed<'a>(comp: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = comp.strip_prefix(prefix)?;
    let rest = rest.strip_suffix(".scope").unwrap_or(rest);
    is_id(rest).then_some(rest)
}

fn pod_uid(comp: &str) -> Option<String> {
    // cgroupfs: pod<uid>; systemd: kubepods-<qos>-pod<uid_with_underscores>.slice
    let comp = comp.strip_suffix(".slice").unwrap_or(comp);
    let at = comp.rfind("pod")?;
    let uid = &comp[at + 3..];
    let ok = uid.len() == 36
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    ok.then(|| uid.replace('_', "-"))
}

fn component(comp: &str, under_kubepods: bool) -> Option<(Runtime, &str)> {
    if comp.contains("-conmon-") {
        return None;
    }
    if let Some(id) = prefixed(comp, "cri-containerd-") {
        return Some((Runtime::Containerd, id));
    }
    if let Some(id) = prefixed(comp, "crio-") {
        return Some((Runtime::CriO, id));
    }
    if let Some(id) = prefixed(comp, "docker-") {
        return Some((Runtime::Docker, id));
    }
    if let Some(id) = prefixed(comp, "libpod-") {
        return Some((Runtime::Podman, id));
    }
    if is_id(comp) {
        return Some((
            if under_kubepods {
                Runtime::Kubernetes
            } else {
                Runtime::Docker
            },
            comp,
        ));
    }
    None
}

/// The container a cgroup path (one hierarchy's, as in `/proc/<pid>/cgroup` after the second
/// colon) belongs to, or `None` for host processes.
pub fn parse_cgroup_path(path: &str) -> Option<ContainerRef> {
    let mut under_kubepods = false;
    let mut under_docker = false;
    let mut uid = None;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        if comp.starts_with("kubepods") {
            under_kubepods = true;
            if let Some(u) = pod_uid(comp) {
                uid = Some(u);
            }
            continue;
        }
        if under_kubepods && uid.is_none() {
            if let Some(u) = pod_uid(comp) {
                uid = Some(u);
                continue;
            }
        }
        if comp == "docker" {
            under_docker = true;
            continue;
        }
        if let Some((runtime, id)) = component(comp, under_kubepods) {
            // A bare id is only trusted under a known parent: /docker/<id> or a pod.
            if is_id(comp) && !under_kubepods && !under_docker {
                continue;
            }
            return Some(ContainerRef {
                runtime,
                id: id.to_string(),
                pod_uid: uid,
            });
        }
    }
    None
}

/// The container of a process from the text of `/proc/<pid>/cgroup` (v1, v2 or hybrid).
/// The v2 line is preferred; v1 lines are consulted when it names no container.
pub fn parse_proc_cgroup(text: &str) -> Option<ContainerRef> {
    let paths = text.lines().filter_map(|l| {
        let mut it = l.splitn(3, ':');
        let (id, _ctrl, path) = (it.next()?, it.next()?, it.next()?);
        Some((id == "0", path))
    });
    let (v2, v1): (Vec<_>, Vec<_>) = paths.partition(|(is_v2, _)| *is_v2);
    v2.into_iter()
        .chain(v1)
        .find_map(|(_, p)| parse_cgroup_path(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "85a5f5baa16e7c44217b1723c27ae290426c5218d638fff1e0c1ffc026ab5f3e";
    const UID: &str = "2f5b4a1c-7d3e-4f11-9a0b-1c2d3e4f5a6b";

    fn want(runtime: Runtime, uid: Option<&str>) -> Option<ContainerRef> {
        Some(ContainerRef {
            runtime,
            id: ID.into(),
            pod_uid: uid.map(str::to_string),
        })
    }

    #[test]
    fn containerd_systemd() {
        let u = UID.replace('-', "_");
        let p = format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Containerd, Some(UID)));
        // guaranteed QoS has no qos level
        let p = format!("/kubepods.slice/kubepods-pod{u}.slice/cri-containerd-{ID}.scope");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Containerd, Some(UID)));
    }

    #[test]
    fn kubernetes_cgroupfs() {
        let p = format!("/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Kubernetes, Some(UID)));
        let p = format!("/kubepods/pod{UID}/{ID}");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Kubernetes, Some(UID)));
    }

    #[test]
    fn crio() {
        let u = UID.replace('-', "_");
        let p = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-{ID}.scope"
        );
        assert_eq!(parse_cgroup_path(&p), want(Runtime::CriO, Some(UID)));
        let p = format!("/kubepods/besteffort/pod{UID}/crio-{ID}");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::CriO, Some(UID)));
        // the conmon monitor is not the container
        let p = format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-conmon-{ID}.scope");
        assert_eq!(parse_cgroup_path(&p), None);
    }

    #[test]
    fn docker() {
        assert_eq!(
            parse_cgroup_path(&format!("/system.slice/docker-{ID}.scope")),
            want(Runtime::Docker, None)
        );
        assert_eq!(
            parse_cgroup_path(&format!("/docker/{ID}")),
            want(Runtime::Docker, None)
        );
        // nested: the outer container is attributed
        let other = "1".repeat(64);
        assert_eq!(
            parse_cgroup_path(&format!("/docker/{ID}/docker/{other}")),
            want(Runtime::Docker, None)
        );
    }

    #[test]
    fn podman() {
        assert_eq!(
            parse_cgroup_path(&format!("/libpod_parent/libpod-{ID}")),
            want(Runtime::Podman, None)
        );
        assert_eq!(
            parse_cgroup_path(&format!("/machine.slice/libpod-{ID}.scope")),
            want(Runtime::Podman, None)
        );
        let p = format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
        );
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Podman, None));
        assert_eq!(
            parse_cgroup_path(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
    }

    #[test]
    fn systemd_inside_container() {
        let p = format!("/system.slice/docker-{ID}.scope/init.scope");
        assert_eq!(parse_cgroup_path(&p), want(Runtime::Docker, None));
    }

    #[test]
    fn host_processes() {
        for p in [
            "/",
            "",
            "/init.scope",
            "/system.slice/containerd.service",
            "/system.slice/kubelet.service",
            "/user.slice/user-0.slice/session-1.scope",
            "/kubepods.slice",
            "/kubepods/burstable",
            // a bare id outside any known parent is not trusted
            &format!("/process_api/{ID}"),
            "/process_api/455dda939bb6b296928b54a5515bdd80",
            &format!("/system.slice/docker-{}.scope", &ID[..60]),
            &format!("/docker/{}", ID.to_uppercase()),
        ] {
            assert_eq!(parse_cgroup_path(p), None, "{p}");
        }
    }

    #[test]
    fn proc_cgroup_v1_v2_hybrid() {
        let v2 = format!(
            "0::/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope\n",
            UID.replace('-', "_")
        );
        assert_eq!(parse_proc_cgroup(&v2), want(Runtime::Containerd, Some(UID)));
        let v1 = format!(
            "12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
        );
        assert_eq!(parse_proc_cgroup(&v1), want(Runtime::Docker, None));
        // hybrid where the runtime left the unified tree at the root
        let hybrid = format!(
            "4:memory:/libpod_parent/libpod-{ID}\n1:name=systemd:/libpod_parent/libpod-{ID}\n0::/\n"
        );
        assert_eq!(parse_proc_cgroup(&hybrid), want(Runtime::Podman, None));
        assert_eq!(parse_proc_cgroup("4:memory:/process_api/x\n0::/\n"), None);
    }
}
