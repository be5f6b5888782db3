# syntax=docker/dockerfile:1
# Arbiter: one image for every role (`arbiter api`, `arbiter worker`, `arbiter serve`).
# Linted by scripts/lint-dockerfile (`npm run lint`); compose.yaml runs the production topology.

# Build stage: compile TypeScript and build the console with the dev dependencies, then drop them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY scans ./scans
COPY scanning ./scanning
COPY api ./api
COPY worker ./worker
COPY webhooks ./webhooks
COPY s3 ./s3
COPY rescans ./rescans
COPY cli ./cli
# The browser console (Preact + Vite): `npm run build` builds it into dist/console.
COPY console ./console
# The build copies the Lua scripts (`lua/` folders beside their modules) and the built-in language
# rule pack (scanning/analysis/language/rules/) into dist/.
COPY scripts/copy-lua-scripts.ts ./scripts/
RUN npm run build && npm prune --omit=dev

# Runtime stage: only the compiled code, production dependencies and signatures. Runs as the
# image's unprivileged `node` user (uid 1000); the code and signatures stay root-owned, so the
# process can read but not change them.
FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="arbiter" \
      org.opencontainers.image.description="Self-hostable, multi-tenant malware scanning service (Scanii v2.2 protocol)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    ARBITER_DATA_DIR=/var/lib/arbiter \
    ARBITER_SIGNATURES_DIR=/app/signatures
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY signatures ./signatures
# The spool (uploads waiting for a worker, downloads being scanned) is the one place the process
# writes. Created here owned by `node`, so that a named volume mounted on it starts out owned by
# `node` too (Docker copies the image's ownership into an empty named volume; a bind mount must
# be chowned to uid 1000 by the operator). api and worker containers must share this volume.
RUN mkdir -p /var/lib/arbiter/spool && chown -R node:node /var/lib/arbiter
USER node
# 8080: the API (`api`, `serve`). 9091: /metrics and /healthz of a worker-only process (`worker`).
EXPOSE 8080 9091
# Alive when either the API or, for `arbiter worker`, its metrics port answers /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const ports = [process.env.PORT || 8080, process.env.ARBITER_WORKER_METRICS_PORT || 9091]; Promise.any(ports.map((port) => fetch('http://127.0.0.1:' + port + '/healthz').then((r) => { if (!r.ok) throw new Error(String(r.status)); }))).then(() => process.exit(0), () => process.exit(1));"]
# SIGTERM: stop taking work, finish the jobs in flight (up to ARBITER_SHUTDOWN_TIMEOUT_MS), exit.
# Give the container longer than that to stop (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
