//! Kubernetes operator for QdrantCluster (filled by the operator issues).
