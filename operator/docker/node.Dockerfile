# kv-store node image. Build from the repository root:
#   docker build -f operator/docker/node.Dockerfile -t kv-store:0.1.0 .
# (`npm run images` builds it with buildah over a base made from Debian packages; docs/adr/0071.)
# Node 24 runs the TypeScript sources directly (type stripping), so there is no compile step.
# BASE_IMAGE is the build stage only: any Debian-based image with node and npm on PATH.
ARG BASE_IMAGE=node:24-slim
FROM ${BASE_IMAGE} AS build
# For builds behind a TLS-intercepting proxy: a CA file inside the base for npm. An ARG, so it
# reaches this stage's RUN steps only; the runtime image below never sees it.
ARG NODE_EXTRA_CA_CERTS=
WORKDIR /src
# npm ci needs every workspace's package.json.
COPY package.json package-lock.json ./
COPY node/package.json node/
COPY operator/package.json operator/
RUN NODE_ENV=production npm_config_update_notifier=false npm ci --omit=dev --workspace node --no-audit --no-fund && npm cache clean --force
COPY node/bin node/bin
COPY node/src node/src
COPY operator/docker/rootfs.sh /rootfs.sh
# Test files are not part of the product.
RUN find node/src -name "*.test.ts" -delete \
  && rm -f node_modules/.package-lock.json && sh /rootfs.sh /src

FROM scratch
COPY --from=build /rootfs /
ENV NODE_ENV=production PATH=/usr/local/bin
WORKDIR /app
# uid 1000 matches the StatefulSet's runAsUser and fsGroup.
USER 1000:1000
EXPOSE 8080
VOLUME ["/var/lib/kv-store"]
# tini is PID 1: signals go to node (SIGTERM -> graceful shutdown, exit 0), orphans are reaped.
ENTRYPOINT ["/usr/local/bin/tini", "--", "/usr/local/bin/node", "/app/node/bin/kv-store.js"]
