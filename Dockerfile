# The tp image (traffic manager, tp-agent, tp-agent-init), for people who publish it to a registry.
# The local cluster does not use Docker: scripts/images builds the same layout as OCI tars.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY lib ./lib
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json && rm -rf dist/test dist/bench && npm prune --omit=dev

FROM node:20-bookworm-slim
# iptables for tp-agent-init's REDIRECT rules; OpenSSH's sftp-server serves volumes to `--mount`.
RUN apt-get update && apt-get install -y --no-install-recommends iptables openssh-sftp-server \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/dist ./dist
COPY --from=build /src/node_modules ./node_modules
COPY package.json ./
COPY helm ./helm
ENV NODE_ENV=production
ENTRYPOINT ["node"]
CMD ["/app/dist/lib/cli/main.js", "version"]
