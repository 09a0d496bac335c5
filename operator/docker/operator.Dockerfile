# kv-store operator image. Build from the repository root:
#   docker build -f operator/docker/operator.Dockerfile -t kv-store-operator:0.1.0 .
# (`npm run images` builds it with buildah over a base made from Debian packages; docs/adr/0071.)
ARG BASE_IMAGE=node:24-slim
FROM ${BASE_IMAGE} AS build
ARG NODE_EXTRA_CA_CERTS=
WORKDIR /src
COPY package.json package-lock.json ./
COPY node/package.json node/
COPY operator/package.json operator/
RUN NODE_ENV=production npm_config_update_notifier=false npm ci --omit=dev --workspace operator --no-audit --no-fund && npm cache clean --force
COPY operator/src operator/src
COPY operator/docker/rootfs.sh /rootfs.sh
RUN find operator/src -name "*.test.ts" -delete && rm -f node_modules/.package-lock.json && sh /rootfs.sh /src

FROM scratch
COPY --from=build /rootfs /
ENV NODE_ENV=production PATH=/usr/local/bin
WORKDIR /app
USER 1000:1000
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/tini", "--", "/usr/local/bin/node", "/app/operator/src/main.ts"]
