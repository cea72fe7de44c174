//! `QdrantCluster` custom resource types (filled by the operator issue).
