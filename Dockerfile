# syntax=docker/dockerfile:1
# meshshift container image: `docker build -t meshshift:0.1.0 .`
# Runs `node bin/meshshift.js <args>`; the Kubernetes manifests in deploy/ pass `serve --role api|worker`.

# ── build: compile TypeScript (dist/ is produced by tsc, never committed) ──
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would build before the sources are copied; we build explicitly below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# src/ only: tsconfig.build.json compiles nothing else, and no test code goes into the image.
COPY src ./src
RUN npm run build

# ── runtime: production dependencies + compiled output only ──
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (npm run build) needs the dev dependencies, which are omitted here; dist/ comes
# from the build stage. No production dependency needs an install script to work (msgpackr-extract ships
# prebuilt binaries and falls back to pure JS).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY policies ./policies
# The image's `node` user (uid/gid 1000): numeric so that Kubernetes can enforce runAsNonRoot.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "bin/meshshift.js"]
CMD ["--help"]
