//! Command-line flags, named as Qdrant names them.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "qdrant-node",
    version,
    about = "Qdrant-compatible vector database node"
)]
pub struct Args {
    /// Uri of the peer to bootstrap from in case of multi-peer deployment.
    #[arg(long, value_name = "URI", env = "QDRANT_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// Uri of this peer; other peers reach it by this uri. Required on the first peer.
    #[arg(long, value_name = "URI", env = "QDRANT_URI")]
    pub uri: Option<String>,
    /// Force snapshot re-creation when a collection already exists.
    #[arg(long, default_value_t = false)]
    pub force_snapshot: bool,
    /// Collection snapshots to recover at start: `<PATH>:<COLLECTION_NAME>`.
    #[arg(long, value_name = "PATH:NAME")]
    pub snapshot: Vec<String>,
    /// Full storage snapshot to recover at start.
    #[arg(long, value_name = "PATH")]
    pub storage_snapshot: Option<String>,
    /// Path to an additional config file; overrides `config/config.yaml`.
    #[arg(long, value_name = "PATH")]
    pub config_path: Option<PathBuf>,
    /// Disable telemetry sending (we send none; accepted for compatibility).
    #[arg(long, default_value_t = false)]
    pub disable_telemetry: bool,
    /// Print stack traces on panic (accepted for compatibility).
    #[arg(long, default_value_t = false)]
    pub stacktrace: bool,
    /// Reinitialise consensus state (accepted for compatibility).
    #[arg(long, default_value_t = false)]
    pub reinit: bool,
}
