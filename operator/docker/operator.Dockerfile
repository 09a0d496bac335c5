# kv-store operator image. Build from the repository root:
#   docker build -f operator/docker/operator.Dockerfile -t kv-store-operator:0.1.0 .
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY node/package.json node/
COPY operator/package.json operator/
RUN npm ci --omit=dev --workspace operator --no-audit --no-fund && npm cache clean --force
COPY operator/src operator/src
USER 1000:1000
EXPOSE 8081
ENTRYPOINT ["node", "/app/operator/src/main.ts"]
