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
    /// A chore to run once against a node instead of the controller.
    #[command(subcommand)]
    chore: Option<Chore>,
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

/// The cluster chores, for nodes outside Kubernetes.
#[derive(Debug, clap::Subcommand)]
enum Chore {
    /// Move shards until every peer holds an equal share.
    Rebalance(Target),
    /// Move every shard off a peer, then remove it from the cluster.
    Drain {
        #[command(flatten)]
        target: Target,
        /// Peer id to drain (repeatable: they are drained together).
        #[arg(long, required = true)]
        peer: Vec<u64>,
    },
    /// Remove dead peers and restore every collection's replication factor.
    Recover {
        #[command(flatten)]
        target: Target,
        /// A peer whose replicas all stay `Dead` (or that the node sees down) this long is dead.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        dead_after: std::time::Duration,
        /// Snapshot URL with `{collection}`, to restore shards that lost every replica.
        #[arg(long)]
        snapshot_location: Option<String>,
    },
    /// Change a collection's shard number live, one shard at a time (`--transfer-timeout`
    /// bounds each step).
    Reshard {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        collection: String,
        /// The shard number wanted.
        #[arg(long)]
        shards: u32,
    },
}

#[derive(Debug, clap::Args)]
struct Target {
    /// REST URL of any node of the cluster.
    #[arg(long)]
    url: String,
    #[arg(long, env = "QDRANT_API_KEY")]
    api_key: Option<String>,
    /// Transfers at a time.
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// `PEER=ZONE`: keep replicas of a shard in different zones (repeatable).
    #[arg(long, value_parser = parse_zone)]
    zone: Vec<(u64, String)>,
    /// Longest wait for one transfer.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    transfer_timeout: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("bad duration `{s}`"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "" | "s" => Ok(std::time::Duration::from_secs(n)),
        "m" => Ok(std::time::Duration::from_secs(n * 60)),
        "h" => Ok(std::time::Duration::from_secs(n * 3600)),
        _ => Err(format!("bad duration `{s}` (use ms, s, m or h)")),
    }
}

/// Runs one chore, printing progress; the error says why it could not finish safely.
async fn run_chore(chore: Chore) -> anyhow::Result<()> {
    use operator::chores::{self, client::NodeClient, Options};
    // On a terminal the progress line is redrawn in place; elsewhere each change is a line.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let say = move |m: &str| {
        if tty {
            println!("\r\x1b[K{m}");
        } else {
            println!("{m}");
        }
    };
    let progress = move |m: &str| {
        use std::io::Write;
        if tty {
            print!("\r\x1b[K{m}");
            let _ = std::io::stdout().flush();
        } else {
            println!("{m}");
        }
    };
    let t = match &chore {
        Chore::Rebalance(t)
        | Chore::Drain { target: t, .. }
        | Chore::Recover { target: t, .. }
        | Chore::Reshard { target: t, .. } => t,
    };
    let client = NodeClient::new(&t.url, t.api_key.clone());
    let snapshot_location = match &chore {
        Chore::Recover {
            snapshot_location, ..
        } => snapshot_location.clone(),
        _ => None,
    };
    let o = Options {
        snapshot_location,
        zones: t.zone.iter().cloned().collect(),
        parallel: t.parallel,
        transfer_timeout: t.transfer_timeout,
        say: &say,
        progress: &progress,
    };
    let report = match &chore {
        Chore::Rebalance(_) => chores::rebalance(&client, &o).await?,
        Chore::Drain { peer, .. } => chores::drain(&client, peer, &o).await?,
        Chore::Recover { dead_after, .. } => chores::recover(&client, *dead_after, &o).await?,
        Chore::Reshard {
            collection, shards, ..
        } => {
            let steps = chores::reshard(&client, collection, *shards, &o).await?;
            println!("done: {collection} has {shards} shards ({steps} resharding steps)");
            return Ok(());
        }
    };
    println!(
        "done: {} moved, {} replicated, removed {:?}",
        report.moved, report.replicated, report.removed
    );
    Ok(())
}

fn parse_zone(s: &str) -> Result<(u64, String), String> {
    let (p, z) = s
        .split_once('=')
        .ok_or_else(|| format!("expected PEER=ZONE, got `{s}`"))?;
    let p = p.parse().map_err(|_| format!("`{p}` is not a peer id"))?;
    Ok((p, z.to_string()))
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected POD=URL, got `{s}`"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(chore) = args.chore.take() {
        return run_chore(chore).await;
    }
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
