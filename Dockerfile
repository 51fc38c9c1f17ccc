# One image, every role: `docker run lcm <role args>` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY core ./core
COPY schema ./schema
COPY subgraphs ./subgraphs
COPY gateway ./gateway
COPY controllers ./controllers
COPY simulators ./simulators
COPY dashboard ./dashboard
USER node
ENTRYPOINT ["node", "bin/lcm.js"]
