//! `qdrant-operator`: reconciles QdrantCluster resources (in one namespace or all), serves
//! `/metrics` and `/healthz`, and takes a Lease first when leader election is on.

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use operator::controller::{self, Context};
use operator::{leader::Election, metrics::Metrics, nodes::Nodes};
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "qdrant-operator",
    version,
    about = "Kubernetes operator for QdrantCluster"
)]
struct Args {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of the /metrics and /healthz server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: String,
    /// Take a Lease before reconciling (run more than one replica).
    #[arg(long)]
    leader_election: bool,
    /// Namespace of the leader-election Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    #[arg(long, default_value = "qdrant-operator")]
    lease_name: String,
    /// How to reach a pod's REST API; `{pod}`, `{headless}`, `{namespace}`, `{ordinal}` are
    /// replaced. Default: http://{pod}.{headless}.{namespace}.svc:6333
    #[arg(long)]
    node_url_template: Option<String>,
    /// `POD=URL`: reach this pod at URL (repeatable; for nodes outside the cluster network).
    #[arg(long = "node-url", value_parser = parse_pair)]
    node_urls: Vec<(String, String)>,
    /// Log as text instead of JSON.
    #[arg(long)]
    log_text: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected POD=URL, got `{s}`"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_text {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    }
    let client = Client::try_default()
        .await
        .context("cannot reach the Kubernetes API")?;
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(&args.metrics_addr)
        .await
        .with_context(|| format!("cannot bind {}", args.metrics_addr))?;
    tracing::info!("metrics listening on http://{}", listener.local_addr()?);
    tokio::spawn(operator::metrics::serve(listener, metrics.clone()));

    let election = args.leader_election.then(|| {
        let ns = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let id = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("qdrant-operator-{}", std::process::id()));
        Election::new(client.clone(), &ns, &args.lease_name, id)
    });
    if let Some(e) = &election {
        e.acquire().await;
    }
    let ctx = Arc::new(Context::new(
        client,
        metrics,
        Nodes::new(args.node_url_template, args.node_urls.into_iter().collect()),
    ));
    tracing::info!(namespace = ?args.namespace, "controller starting");
    match election {
        Some(e) => {
            tokio::select! {
                _ = controller::run(args.namespace.clone(), ctx) => {}
                _ = e.keep() => anyhow::bail!("lost the leader lease; exiting so another replica takes over"),
            }
        }
        None => controller::run(args.namespace.clone(), ctx).await,
    }
    tracing::info!("controller stopped");
    Ok(())
}
