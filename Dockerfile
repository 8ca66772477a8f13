# syntax=docker/dockerfile:1
# A small image that runs homelab. Build and try it:
#   docker build -t homelab .
#   docker run --rm homelab --version
#   docker run --rm -v "$PWD":/config:ro -e PVE_TOKEN_SECRET -e CONTOSO_AUTOMATION_SECRET homelab plan -f /config/homelab.yaml
# docs/cron-and-ci.md and docs/examples/k8s-cronjob.yaml show it unattended.

# Node.js 24, the current LTS (Node 20 reached its end of life in April 2026). The code itself still runs on
# Node >= 20.19 (package.json's engines), and CI (.ci/run) runs the suite on 20 and on 24.

# Build: install every dependency, compile, then drop the development dependencies.
FROM node:24-slim AS build
WORKDIR /app
# npm ci runs the `prepare` script, scripts/link-bin.mjs: copy scripts/ before it.
COPY package.json package-lock.json ./
COPY scripts/ ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY schemas/ ./schemas/
COPY src/ ./src/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: Node.js, the compiled CLI, the schema, the example playbooks and the production dependencies.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ ./node_modules/
COPY --from=build /app/dist/ ./dist/
COPY --from=build /app/schemas/ ./schemas/
COPY playbooks/ ./playbooks/
# The `node` user of the base image, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# `-f` defaults to ./homelab.yaml: mount a config directory here, or pass -f.
WORKDIR /config
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
