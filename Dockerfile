# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies, then drop them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY scanning ./scanning
COPY api ./api
COPY worker ./worker
COPY webhooks ./webhooks
COPY s3 ./s3
COPY cli ./cli
RUN npm run build && npm prune --omit=dev

# Runtime stage: only the compiled code, production dependencies and signatures; runs as `node`.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    ARBITER_DATA_DIR=/var/lib/arbiter \
    ARBITER_SIGNATURES_DIR=/app/signatures
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY signatures ./signatures
RUN mkdir -p /var/lib/arbiter/spool && chown -R node:node /var/lib/arbiter
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
