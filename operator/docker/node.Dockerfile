# kv-store node image. Build from the repository root:
#   docker build -f operator/docker/node.Dockerfile -t kv-store:0.1.0 .
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
# npm ci needs every workspace's package.json.
COPY package.json package-lock.json ./
COPY node/package.json node/
COPY operator/package.json operator/
RUN npm ci --omit=dev --workspace node --no-audit --no-fund && npm cache clean --force
COPY node/bin node/bin
COPY node/src node/src
# The base image's unprivileged "node" user (uid 1000), matching the StatefulSet's runAsUser.
USER 1000:1000
EXPOSE 8080
VOLUME ["/var/lib/kv-store"]
ENTRYPOINT ["node", "/app/node/bin/kv-store.js"]
