# The data node. Build from the repository root:
#   docker build -f docker/node.Dockerfile -t qdrant-node:latest .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev clang \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p node --bin qdrant-node

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 qdrant && useradd --uid 1000 --gid 1000 --no-create-home qdrant \
    && mkdir -p /qdrant/storage /qdrant/snapshots /qdrant/config \
    && chown -R 1000:1000 /qdrant
COPY --from=build /src/target/release/qdrant-node /usr/local/bin/qdrant-node
COPY config/config.yaml /qdrant/config/config.yaml
WORKDIR /qdrant
USER 1000:1000
ENV QDRANT__STORAGE__STORAGE_PATH=/qdrant/storage \
    QDRANT__STORAGE__SNAPSHOTS_PATH=/qdrant/snapshots
EXPOSE 6333 6334 6335
VOLUME ["/qdrant/storage", "/qdrant/snapshots"]
ENTRYPOINT ["qdrant-node"]
