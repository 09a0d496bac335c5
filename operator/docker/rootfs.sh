#!/bin/sh
# Runs inside the build stage of node.Dockerfile and operator.Dockerfile: assembles /rootfs, the
# whole file system of the runtime image (FROM scratch): the node binary with exactly the shared
# libraries it and the app's native addons load, tini as PID 1, the app, and a passwd entry for
# uid 1000. No shell, no npm, no package manager, no CA bundle at run time (docs/adr/0071).
set -eu
app_dir="$1"
root=/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/home/node" "$root/var/lib/kv-store"
chmod 1777 "$root/tmp"
node_bin="$(command -v node)"
cp "$node_bin" "$root/usr/local/bin/node"
# The symbol table is for debuggers only (-18 MB); the dynamic symbols native addons link
# against stay. Where the build stage has no binutils the binary is kept as it is.
if command -v strip >/dev/null; then strip "$root/usr/local/bin/node"; fi
# tini reaps orphans re-parented to PID 1 and forwards signals to node (node itself never waits
# for processes it did not start). The static build needs no library.
tini_bin="$(command -v tini-static || true)"
if [ -z "$tini_bin" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
  tini_bin=/usr/bin/tini-static
fi
cp "$tini_bin" "$root/usr/local/bin/tini"
cp -a "$app_dir" "$root/app"
# Nothing that runs: type declarations, source maps, docs (licences stay), other platforms' addons.
find "$root/app/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -iname '*.md' \) -type f -delete
find "$root/app/node_modules" -path '*/prebuilds/*' -prune -type d ! -name 'linux-x64*' -exec rm -rf {} +
find "$root/app/node_modules" -depth -type d -empty -delete
# Shared libraries: whatever ldd resolves for node and every native addon, plus the loader.
libs="$( (ldd "$node_bin"; find "$root/app" -name '*.node' -exec ldd {} \; 2>/dev/null) | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | sort -u)"
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# The loader is looked up at its canonical path; on merged-/usr Debian /lib64 is a symlink.
if [ -L /lib64 ]; then ln -s "$(readlink /lib64)" "$root/lib64" 2>/dev/null || true; fi
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000:node:/home/node:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chown 1000:1000 "$root/home/node" "$root/var/lib/kv-store"
