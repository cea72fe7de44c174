/// Qdrant's public API (package `qdrant`), served on the gRPC port (6334).
const PUBLIC: &[&str] = &[
    "proto/qdrant/json_with_int.proto",
    "proto/qdrant/qdrant_common.proto",
    "proto/qdrant/collections.proto",
    "proto/qdrant/collections_service.proto",
    "proto/qdrant/points.proto",
    "proto/qdrant/points_service.proto",
    "proto/qdrant/snapshots_service.proto",
    "proto/qdrant/qdrant.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: single-threaded build script; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/p2p.proto", "proto/grpc_health.proto"], &["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(PUBLIC, &["proto/qdrant"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
