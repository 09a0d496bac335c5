#!/usr/bin/env bash
# Runs a command with the podman/buildah configuration these machines need (scripts/images/lib.sh):
#   bash scripts/images/with-podman.sh node --test test/images/node-image.test.ts
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
exec "$@"
