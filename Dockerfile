# typedns image: build with dev dependencies, run with production dependencies only.
#   docker build -t typedns:0.1.0 .
#   docker run --rm -p 1053:53/udp -v $PWD/Corefile.example:/etc/coredns/Corefile:ro typedns:0.1.0
# The steps are replayed without docker by .ci/dockerfile-steps (test/repo/dockerfile.test.ts).

# ---- build: compile TypeScript to dist/ and native/udp.c to build/typedns_udp.node
FROM node:20-bookworm-slim AS build
# a C compiler for the native UDP socket (Node's headers come with the image)
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY native ./native
COPY scripts ./scripts
COPY Corefile.example ./
COPY examples ./examples
RUN npm run build && npm run build:native && npm pack --pack-destination /tmp && mkdir /pkg && tar -xzf /tmp/typedns-*.tgz -C /pkg --strip-components=1

# ---- runtime: the packed package, production dependencies, no npm cache, numeric non-root user
FROM node:20-bookworm-slim
# Binding port 53 as a non-root user: node gets the one capability it needs (the Deployment
# drops ALL and adds back only NET_BIND_SERVICE).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/node \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /typedns
COPY --from=build /pkg/ ./
COPY package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force && rm -rf /root/.npm /tmp/*
# Nothing is written at run time: works with a read-only root filesystem.
# A 1 MB young generation instead of V8's 16 MB semi-spaces (which stay committed once grown, e.g.
# by the kubernetes plugin's initial sync): ~30 MB less RSS, no measurable cost in queries/s
# (bench/README.md, "Kubernetes scale").
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=1
USER 65532:65532
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["node", "/typedns/dist/src/cli.js"]
CMD ["-conf", "/etc/coredns/Corefile"]
