#!/usr/bin/env bash
# Packages the node sensor's build, tests and benchmark need (Debian). Called by .ci/run.
# clang/llvm/libbpf-dev/bpftool: scripts/build-bpf and scripts/check-bpf (cargo build alone
# needs none of them: the BPF object is committed). podman/runc/busybox-static: container
# tests. util-linux (unshare, setpriv), procps (kill): host tests. libbpf-tools: execsnoop,
# the peer in scripts/bench-sensor. time: /usr/bin/time for peak RSS in the benchmark.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  clang llvm libelf-dev libbpf-dev bpftool \
  podman runc busybox-static \
  util-linux procps libbpf-tools time bc python3
