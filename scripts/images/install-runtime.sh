#!/usr/bin/env bash
# Installs (Debian packages, only what is missing) what the images and the real-kubelet node
# need: podman, buildah, runc, debootstrap, containerd, the CNI plugins, iptables (docs/adr/0071).
set -euo pipefail
packages=(podman buildah runc debootstrap containerd containernetworking-plugins iptables)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
