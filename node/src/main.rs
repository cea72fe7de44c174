//! `qdrant-node`: parse flags and config, set up logging, bind the ports, run the node.

use anyhow::Context;
use clap::Parser;
use node::config::{Args, Settings};

fn init_tracing(level: &str) {
    // openraft narrates every vote and heartbeat at info: keep its warnings and errors only,
    // unless the level names openraft itself.
    let level = level.to_ascii_lowercase();
    let spec = if level.contains("openraft") {
        level
    } else {
        format!("{level},openraft=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
    tracing::info!("shutdown signal received");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let loaded = Settings::load(&args, std::env::vars()).context("cannot start")?;
    let settings = loaded.settings;
    init_tracing(&settings.log_level);
    for key in &loaded.ignored_keys {
        tracing::warn!(key = %key, "config key not supported by this node; ignored");
    }
    if !settings.cluster.enabled && (settings.uri.is_some() || settings.bootstrap.is_some()) {
        tracing::warn!("--uri / --bootstrap only take effect with cluster.enabled=true");
    }
    let host = &settings.service.host;
    let addr = format!("{host}:{}", settings.service.http_port);
    let rest = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot bind REST port {addr}"))?;
    let p2p = if settings.cluster.enabled {
        let addr = format!("{host}:{}", settings.cluster.p2p.port);
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot bind p2p port {addr}"))?;
        Some(l)
    } else {
        None
    };
    let grpc = match settings.service.grpc_port {
        Some(port) => {
            let addr = format!("{host}:{port}");
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot bind gRPC port {addr}"))?;
            Some(l)
        }
        None => None,
    };
    let listeners = node::Listeners { rest, p2p, grpc };
    node::run(settings, listeners, shutdown_signal())
        .await
        .context("node failed")?;
    Ok(())
}
