# Shared by scripts/images/*.sh: where images and their caches live, and a podman/buildah
# configuration that works on these machines (docs/adr/0071).
images_cache="${KVSTORE_IMAGES_CACHE:-$HOME/.cache/kv-store-images}"
mkdir -p "$images_cache"
# RLIMIT_NPROC may not be set here (default_ulimits), crun fails on hybrid cgroups (runtime),
# and there is no systemd (cgroup manager, event log).
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  export CONTAINERS_CONF="$images_cache/containers.conf"
  cat >"$CONTAINERS_CONF.tmp-$$" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  mv "$CONTAINERS_CONF.tmp-$$" "$CONTAINERS_CONF"
fi
need_tools() {
  local missing=()
  for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
  if ((${#missing[@]} > 0)); then
    echo "installing ${missing[*]} (Debian packages)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
image_size_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f", $1 / 1000000}'; }
