//! The committed CRD must be exactly what `crdgen` prints.

#[test]
fn committed_crd_matches_crdgen() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/qdrantcluster.yaml");
    let committed = std::fs::read_to_string(path).expect("crds/qdrantcluster.yaml");
    let generated = crds::crd_yaml().expect("crd yaml");
    assert!(
        committed == generated,
        "crds/qdrantcluster.yaml is stale: run `cargo run -p crds --bin crdgen > crds/qdrantcluster.yaml`"
    );
}
