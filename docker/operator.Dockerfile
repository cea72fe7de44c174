# The operator. Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t qdrant-operator:latest .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev clang \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p operator --bin qdrant-operator

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/qdrant-operator /usr/local/bin/qdrant-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["qdrant-operator"]
