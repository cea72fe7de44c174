//! Node settings, layered as Qdrant layers them: built-in defaults, then
//! `config/config.yaml` (if present), then `--config-path`, then `QDRANT__SECTION__KEY`
//! environment variables, then CLI flags. Keys we do not know are logged as warnings.

pub mod cli;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use cli::Args;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Load(#[from] config::ConfigError),
    #[error("config file {0} not found")]
    Missing(PathBuf),
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub log_level: String,
    pub service: ServiceConfig,
    pub storage: StorageConfig,
    pub cluster: ClusterConfig,
    pub telemetry_disabled: bool,
    /// Set from `--uri` / `QDRANT_URI`.
    #[serde(skip)]
    pub uri: Option<String>,
    /// Set from `--bootstrap` / `QDRANT_BOOTSTRAP`.
    #[serde(skip)]
    pub bootstrap: Option<String>,
    /// Collection snapshots to recover at start (`--snapshot <PATH>:<COLLECTION>`).
    #[serde(skip)]
    pub start_snapshots: Vec<(PathBuf, String)>,
    /// A full storage snapshot to recover at start (`--storage-snapshot <PATH>`).
    #[serde(skip)]
    pub start_storage_snapshot: Option<PathBuf>,
    /// `--force-snapshot`: a start snapshot replaces an existing collection.
    #[serde(skip)]
    pub force_snapshot: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    pub host: String,
    pub http_port: u16,
    pub grpc_port: Option<u16>,
    pub max_request_size_mb: usize,
    pub enable_cors: bool,
    pub api_key: Option<String>,
    pub read_only_api_key: Option<String>,
    pub max_workers: Option<usize>,
    pub enable_tls: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub storage_path: PathBuf,
    pub snapshots_path: PathBuf,
    pub temp_path: Option<PathBuf>,
    pub on_disk_payload: bool,
    pub collection: CollectionDefaults,
}

/// `storage.collection`: defaults for collections created without these parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectionDefaults {
    pub shard_number: Option<u32>,
    pub replication_factor: Option<u32>,
    pub write_consistency_factor: Option<u32>,
    pub vectors: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    pub enabled: bool,
    pub p2p: P2pConfig,
    pub consensus: ConsensusConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct P2pConfig {
    pub port: u16,
    pub api_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsensusConfig {
    pub tick_period_ms: u64,
    /// Take a Raft snapshot (and drop older log entries) every this many applied entries.
    pub compact_wal_entries: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            log_level: "INFO".into(),
            service: ServiceConfig::default(),
            storage: StorageConfig::default(),
            cluster: ClusterConfig::default(),
            telemetry_disabled: false,
            uri: None,
            bootstrap: None,
            start_snapshots: Vec::new(),
            start_storage_snapshot: None,
            force_snapshot: false,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            host: "0.0.0.0".into(),
            http_port: 6333,
            grpc_port: Some(6334),
            max_request_size_mb: 32,
            enable_cors: true,
            api_key: None,
            read_only_api_key: None,
            max_workers: None,
            enable_tls: false,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            storage_path: "./storage".into(),
            snapshots_path: "./snapshots".into(),
            temp_path: None,
            on_disk_payload: true,
            collection: CollectionDefaults::default(),
        }
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            port: 6335,
            api_key: None,
        }
    }
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            tick_period_ms: 100,
            compact_wal_entries: 128,
        }
    }
}

/// Loaded settings plus the unknown keys that were ignored (to be logged once tracing is up).
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub ignored_keys: Vec<String>,
}

const DEFAULT_CONFIG: &str = "config/config.yaml";

impl Settings {
    /// Builds settings from the layers; `env` is the process environment (injectable for tests).
    pub fn load(
        args: &Args,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let mut b = Config::builder()
            .add_source(File::new(DEFAULT_CONFIG, FileFormat::Yaml).required(false));
        if let Some(p) = &args.config_path {
            if !p.exists() {
                return Err(ConfigError::Missing(p.clone()));
            }
            b = b.add_source(
                File::from(p.as_path())
                    .format(FileFormat::Yaml)
                    .required(true),
            );
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("QDRANT__"))
            .collect();
        b = b.add_source(
            Environment::with_prefix("QDRANT")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let cfg = b.build()?;
        let mut ignored_keys = Vec::new();
        let mut settings: Settings =
            serde_ignored::deserialize(cfg, |path| ignored_keys.push(path.to_string()))
                .map_err(ConfigError::Load)?;
        settings.uri = args.uri.clone();
        settings.bootstrap = args.bootstrap.clone();
        settings.start_snapshots = args
            .snapshot
            .iter()
            .map(|v| start_snapshot(v))
            .collect::<Result<_, _>>()?;
        settings.force_snapshot = args.force_snapshot;
        settings.start_storage_snapshot = args.storage_snapshot.as_ref().map(PathBuf::from);
        settings.validate()?;
        Ok(Loaded {
            settings,
            ignored_keys,
        })
    }
}

/// `<PATH>:<COLLECTION>` of `--snapshot` (split at the last colon).
fn start_snapshot(v: &str) -> Result<(PathBuf, String), ConfigError> {
    match v.rsplit_once(':') {
        Some((path, name)) if !path.is_empty() && !name.is_empty() => {
            Ok((PathBuf::from(path), name.to_string()))
        }
        _ => Err(ConfigError::Invalid(format!(
            "--snapshot `{v}`: expected <PATH>:<COLLECTION_NAME>"
        ))),
    }
}

impl Settings {
    fn validate(&self) -> Result<(), ConfigError> {
        let level = self.log_level.to_ascii_lowercase();
        let known = ["trace", "debug", "info", "warn", "error", "off"];
        // Qdrant also accepts a full filter like "info,node=debug"; allow that form.
        if !known.contains(&level.as_str()) && !level.contains('=') && !level.contains(',') {
            return Err(ConfigError::Invalid(format!(
                "log_level `{}` is not one of TRACE, DEBUG, INFO, WARN, ERROR, OFF",
                self.log_level
            )));
        }
        if self.service.max_request_size_mb == 0 {
            return Err(ConfigError::Invalid(
                "service.max_request_size_mb must be at least 1".into(),
            ));
        }
        if self.cluster.consensus.compact_wal_entries == 0 {
            return Err(ConfigError::Invalid(
                "cluster.consensus.compact_wal_entries must be at least 1".into(),
            ));
        }
        if self.cluster.consensus.tick_period_ms == 0 {
            return Err(ConfigError::Invalid(
                "cluster.consensus.tick_period_ms must be at least 1".into(),
            ));
        }
        Ok(())
    }

    pub fn storage_path(&self) -> &Path {
        &self.storage.storage_path
    }
}

#[cfg(test)]
mod tests;
