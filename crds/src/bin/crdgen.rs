//! Prints the QdrantCluster CRD as YAML.

fn main() {
    match crds::crd_yaml() {
        Ok(y) => print!("{y}"),
        Err(e) => {
            eprintln!("crdgen: {e}");
            std::process::exit(1);
        }
    }
}
