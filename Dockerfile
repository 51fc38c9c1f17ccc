# One image, every role: `docker run lcm <role args>` (see docker-compose.yml), e.g.
#   docker run lcm gateway --host 0.0.0.0      docker run lcm controller worker-controller
# Production code only: .dockerignore keeps tests, test kits, benchmarks and docs out of the build
# context, and the last step below removes any test file that would still have come in.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` needs the sources, copied only below.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY core ./core
COPY schema ./schema
COPY subgraphs ./subgraphs
COPY gateway ./gateway
COPY controllers ./controllers
COPY simulators ./simulators
COPY dashboard ./dashboard
RUN npm run --if-present build:dashboard \
 && find . -path ./node_modules -prune -o \( -name '*.test.ts' -o -name '__tests__' -o -name 'test-fixtures' \) -prune -exec rm -rf {} + \
 && mkdir -p .lcm && chown node:node .lcm
USER node
# `.lcm/` (writable by the node user) holds a generated admin token and internal secret when
# LCM_ADMIN_TOKEN / LCM_INTERNAL_SECRET are not set, e.g. for `docker run lcm up`.
# Every role serves /healthz and /readyz; docker-compose.yml sets a health check per service.
ENTRYPOINT ["node", "bin/lcm.js"]
