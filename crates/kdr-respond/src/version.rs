//! Versions as clusters and images write them: `v1.29.3-eks-abc`, major/minor `1`/`27+`,
//! image tags `v3.26.1`, `v1.15.1-eksbuild.1`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `major.minor.patch`; suffixes after `-` or `+` (builds, vendor marks) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `[v]MAJOR.MINOR.PATCH[-suffix|+suffix]`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let core = text.split(['-', '+']).next().unwrap_or(text);
        let mut numbers = core.split('.').map(parse_number);
        let version = Version::new(numbers.next()??, numbers.next()??, numbers.next()??);
        numbers.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The Kubernetes minor release (`1.27`) from `GET /version`: from `gitVersion` when it
/// parses, else from `major`/`minor` (clouds write `27+`).
pub fn server_release(git_version: &str, major: &str, minor: &str) -> Option<(u64, u64)> {
    if let Some(version) = Version::parse(git_version) {
        return Some((version.major, version.minor));
    }
    let minor = minor.strip_suffix('+').unwrap_or(minor);
    Some((parse_number(major)?, parse_number(minor)?))
}

/// The tag of an image reference, without any `@digest`; `None` when it has no tag.
/// `registry:5000/calico/node:v3.26.1@sha256:...` -> `v3.26.1`.
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_segment.split_once(':').map(|(_, tag)| tag)
}

/// The last path segment of an image's repository: `quay.io/cilium/cilium:v1.14.2` ->
/// `cilium`.
pub fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_segment.split(':').next().unwrap_or(last_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_prefixes_and_suffixes() {
        assert_eq!(
            Version::parse("v1.29.3-eks-abc"),
            Some(Version::new(1, 29, 3))
        );
        assert_eq!(
            Version::parse("v1.15.1-eksbuild.1"),
            Some(Version::new(1, 15, 1))
        );
        assert_eq!(Version::parse("3.26.1+k3s1"), Some(Version::new(3, 26, 1)));
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(Version::parse("v1.15"), None);
        assert_eq!(Version::parse("v1.15.1.2"), None);
        assert_eq!(Version::parse("v1.x.1"), None);
        assert!(Version::new(1, 13, 1) > Version::new(1, 9, 20));
    }

    #[test]
    fn server_release_prefers_git_version_then_major_minor() {
        assert_eq!(server_release("v1.29.3-eks-abc", "1", "29+"), Some((1, 29)));
        assert_eq!(server_release("weird", "1", "27+"), Some((1, 27)));
        assert_eq!(server_release("weird", "1", "x"), None);
    }

    #[test]
    fn image_tags_and_names_ignore_registry_ports_and_digests() {
        let cilium = "quay.io/cilium/cilium:v1.14.2@sha256:6263f3a3d5d63b267b538298dbeb5ae87da3efacf09a2c620446c873ba807d35";
        assert_eq!(image_tag(cilium), Some("v1.14.2"));
        assert_eq!(image_name(cilium), "cilium");
        assert_eq!(image_tag("registry:5000/calico/node"), None);
        assert_eq!(
            image_tag("registry:5000/calico/node:v3.26.1"),
            Some("v3.26.1")
        );
        assert_eq!(image_name("registry:5000/calico/node:v3.26.1"), "node");
        assert_eq!(
            image_name(
                "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.15.1-eksbuild.1"
            ),
            "amazon-k8s-cni"
        );
        assert_eq!(image_tag("cilium@sha256:abc"), None);
    }
}
