# syntax=docker/dockerfile:1
#
# One image for every Flotilla service. The command picks the service:
#   node dist/apps/<ingest-api|scheduler|executor|notifier|standalone>/src/main.js
# (docker-compose.yml runs the four distributed services from it; without a command the image
# runs the standalone product: all four services in one process, events in SQLite under /data).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------------------- build
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# No telemetry from install scripts; no Nx daemon in a throwaway container.
ENV SCARF_ANALYTICS=false NX_DAEMON=false NX_NO_CLOUD=true

# Dependencies first, so that this layer is reused while only sources change. Install scripts
# are skipped: the build needs none of them (the SWC binary comes as a platform package).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# scripts/build.mjs transpiles apps/, libs/ and bench/ with SWC and rewrites the @flotilla/* path
# aliases (from tsconfig.base.json) into relative requires: dist/ is plain CommonJS.
COPY tsconfig.base.json ./
COPY scripts/build.mjs scripts/build-console.mjs scripts/check-node.cjs ./scripts/
COPY apps ./apps
COPY libs ./libs
COPY bench ./bench
RUN npm run build

# -------------------------------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false \
    KAFKAJS_NO_PARTITIONER_WARNING=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data

# Production dependencies only: dist/ needs no TypeScript, SWC, Nx or jest at run time.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist/apps ./dist/apps
COPY --from=build /app/dist/libs ./dist/libs
COPY --from=build /app/dist/scripts ./dist/scripts
# The web console (Vite's build), served by the processes that serve the API.
COPY --from=build /app/dist/console ./dist/console

# The operator CLI on PATH: `docker compose exec <service> flotilla history <batchId>` works on the
# service's own store and DATA_DIR (the same environment as the service).
RUN printf '#!/bin/sh\nexec node /app/dist/apps/cli/src/main.js "$@"\n' > /usr/local/bin/flotilla && chmod 755 /usr/local/bin/flotilla

# The state directory belongs to the unprivileged user; a named volume mounted here starts
# with this ownership. The application files stay root-owned (read-only for the service).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000

# No curl in the slim image: Node's own fetch asks the service's /health.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "dist/apps/standalone/src/main.js"]
