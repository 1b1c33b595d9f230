# logit-cache: precompute (GPU or CPU) and serve images from one Dockerfile.
#   CPU (default):  docker build -t logit-cache .
#   GPU (CUDA 12):  docker build --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12 \
#                     --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 -t logit-cache:cuda .
# Serving needs no model runtime, but one image keeps deployment simple; the CUDA provider
# libraries are downloaded by onnxruntime-node's install script only when asked for.

ARG BASE=node:20-bookworm-slim

FROM node:20-bookworm AS build
WORKDIR /app
# "skip" by default (CPU provider, bundled in the package); "cuda12" fetches the CUDA EP.
ARG ONNXRUNTIME_NODE_INSTALL=skip
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev

FROM ${BASE}
# The CUDA base image has no Node: bring the runtime along from the build stage.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schemas ./schemas
RUN ln -s /app/dist/cli/logit-cache.js /usr/local/bin/logit-cache \
 && ln -s /app/dist/cli/precompute-logits.js /usr/local/bin/precompute-logits \
 && chmod +x /app/dist/cli/*.js
# Datasets are mounted here (read-only for serving).
VOLUME ["/data"]
EXPOSE 8080
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/cli/logit-cache.js"]
CMD ["serve", "--root", "/data", "--host", "0.0.0.0", "--port", "8080"]
