//! `GET /metrics` in the Prometheus text format, under Qdrant's metric names where Qdrant has
//! one (app, collections, replicas, transfers, cluster, memory, process, REST and gRPC
//! answers), plus a few of ours (`index_pending_vectors`, `vector_memory_bytes`, …). Values
//! are read at scrape time; answers are counted by the `track` middleware.

use super::AppState;
use crate::api::responses::ResponseMetrics;
use crate::collection::replicas::ReplicaState;
use crate::collection::Collection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, Encoder, GaugeVec, Opts, TextEncoder};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// Metric families built at scrape time.
#[derive(Default)]
struct Scrape(Vec<MetricFamily>);

type Rows = Vec<(Vec<String>, f64)>;

impl Scrape {
    fn gauges(&mut self, name: &str, help: &str, labels: &[&str], rows: Rows) {
        let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
        for (l, v) in rows {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            g.with_label_values(&l).set(v);
        }
        self.0.extend(g.collect());
    }

    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.gauges(name, help, &[], vec![(vec![], v)]);
    }

    fn counters(&mut self, name: &str, help: &str, labels: &[&str], rows: Rows) {
        let c = CounterVec::new(Opts::new(name, help), labels).expect("valid counter");
        for (l, v) in rows {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            c.with_label_values(&l).inc_by(v.max(0.0));
        }
        self.0.extend(c.collect());
    }

    fn counter(&mut self, name: &str, help: &str, v: f64) {
        self.counters(name, help, &[], vec![(vec![], v)]);
    }
}

fn per_collection(cols: &[Arc<Collection>], f: impl Fn(&Collection) -> f64) -> Rows {
    cols.iter().map(|c| (vec![c.name.clone()], f(c))).collect()
}

fn collections(m: &mut Scrape, cols: &[Arc<Collection>]) {
    let id = &["id"];
    m.gauge(
        "collections_total",
        "number of collections",
        cols.len() as f64,
    );
    let points = per_collection(cols, |c| c.points_count() as f64);
    let vt = "total number of vectors in all collections";
    m.gauge(
        "collections_vector_total",
        vt,
        points.iter().map(|p| p.1).sum(),
    );
    let (mut vectors, mut memory, mut counts) = (Rows::new(), Rows::new(), Rows::new());
    let mut mapped = Rows::new();
    for c in cols {
        for col in c.column_memory() {
            let l = vec![c.name.clone(), col.name.clone()];
            vectors.push((l.clone(), col.vectors as f64));
            let kind = [l, vec![format!("{:?}", col.kind).to_lowercase()]].concat();
            memory.push((kind.clone(), col.bytes as f64));
            mapped.push((kind.clone(), col.mapped as f64));
            counts.push((kind, col.vectors as f64));
        }
    }
    let labels = &["collection", "vector"];
    m.gauges(
        "collection_vectors",
        "vectors by collection and vector name on this node",
        labels,
        vectors,
    );
    m.gauges(
        "collection_points",
        "points per collection on this node",
        id,
        points,
    );
    // Active replicas per shard, over every shard of every collection.
    let (mut lo, mut hi, mut dead) = (usize::MAX, 0, 0);
    for c in cols {
        c.with_layout(|l| {
            for replicas in l.replicas.values() {
                let active = replicas
                    .values()
                    .filter(|s| **s == ReplicaState::Active)
                    .count();
                (lo, hi) = (lo.min(active), hi.max(active));
                dead += replicas.len() - active;
            }
        });
    }
    let lo = if hi == 0 { 0 } else { lo };
    m.gauge(
        "collection_active_replicas_min",
        "fewest active replicas of a shard",
        lo as f64,
    );
    m.gauge(
        "collection_active_replicas_max",
        "most active replicas of a shard",
        hi as f64,
    );
    m.gauge(
        "collection_dead_replicas",
        "shard replicas not active",
        dead as f64,
    );
    let running = per_collection(cols, |c| {
        c.local_shards()
            .iter()
            .filter(|s| s.segment().pending_index() > 0)
            .count() as f64
    });
    m.gauges(
        "collection_running_optimizations",
        "indexing tasks running per collection",
        id,
        running,
    );
    let transfers = |incoming: bool| {
        per_collection(cols, |c| {
            let me = c.local_peer;
            c.with_layout(|l| {
                l.transfers
                    .iter()
                    .filter(|t| (if incoming { t.to } else { t.from }) == me)
                    .count()
            }) as f64
        })
    };
    m.gauges(
        "collection_shard_transfer_incoming",
        "incoming shard transfers running",
        id,
        transfers(true),
    );
    m.gauges(
        "collection_shard_transfer_outgoing",
        "outgoing shard transfers running",
        id,
        transfers(false),
    );
    let pending: usize = cols.iter().map(|c| c.pending_index()).sum();
    m.gauge(
        "index_pending_vectors",
        "vectors waiting to be indexed",
        pending as f64,
    );
    let graphs: crate::collection::shard::IndexCounts = cols.iter().map(|c| c.index_counts()).sum();
    for (name, help, v) in [
        (
            "index_loaded_vectors",
            "vectors whose graph nodes were opened from disk at start",
            graphs.loaded,
        ),
        (
            "index_built_vectors",
            "vectors inserted into a graph since start",
            graphs.built,
        ),
        (
            "index_saved_vectors",
            "vectors covered by the graphs as last saved to disk",
            graphs.saved,
        ),
    ] {
        m.gauge(name, help, v as f64);
    }
    let bytes: usize = cols.iter().map(|c| c.memory_bytes()).sum();
    m.gauge(
        "segment_memory_bytes",
        "bytes held by vectors and graphs",
        bytes as f64,
    );
    let labels = &["collection", "vector", "kind"];
    let help = "bytes held by one named vector's stored vectors and index on this node";
    m.gauges("vector_memory_bytes", help, labels, memory);
    let help = "bytes of one named vector's vectors in memory-mapped files (on_disk) on this node";
    m.gauges("vector_disk_bytes", help, labels, mapped);
    m.gauges(
        "vector_count",
        "points on this node that have the named vector",
        labels,
        counts,
    );
}

fn cluster(m: &mut Scrape, s: &AppState) {
    m.gauge(
        "cluster_enabled",
        "is cluster mode on",
        s.consensus.is_some() as u8 as f64,
    );
    let Some(cs) = &s.consensus else { return };
    let st = cs.status();
    let raft = &st["raft_info"];
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    let peers = st["peers"].as_object().map_or(0, |p| p.len());
    m.gauge(
        "cluster_peers_total",
        "number of cluster peers",
        peers as f64,
    );
    m.counter("cluster_term", "current Raft term", num(&raft["term"]));
    let commit = vec![(vec![st["peer_id"].to_string()], num(&raft["commit"]))];
    m.counters(
        "cluster_commit",
        "index of the last applied Raft entry",
        &["peer_id"],
        commit,
    );
    let pending = num(&raft["pending_operations"]);
    m.gauge(
        "cluster_pending_operations_total",
        "Raft entries not applied yet",
        pending,
    );
    let voter = raft["is_voter"].as_bool().unwrap_or(false) as u8 as f64;
    m.gauge(
        "cluster_voter",
        "is this peer a voter (1) or a learner (0)",
        voter,
    );
    let working = st["consensus_thread_status"]["consensus_thread_status"] == "working";
    let rows = vec![
        (vec!["working".into()], working as u8 as f64),
        (vec!["stopped".into()], !working as u8 as f64),
    ];
    m.gauges(
        "cluster_working_state",
        "state of the consensus thread",
        &["state"],
        rows,
    );
}

fn process(m: &mut Scrape) {
    let p = crate::api::process::read_all();
    m.gauge(
        "memory_resident_bytes",
        "bytes of resident memory",
        p.resident_bytes as f64,
    );
    m.gauge(
        "process_threads",
        "threads of the process",
        p.threads as f64,
    );
    m.gauge(
        "process_open_mmaps",
        "memory mappings of the process",
        p.open_mmaps as f64,
    );
    m.gauge(
        "system_max_mmaps",
        "system limit of memory mappings per process",
        p.max_mmaps as f64,
    );
    m.gauge(
        "process_open_fds",
        "open file descriptors",
        p.open_fds as f64,
    );
    m.gauge(
        "process_max_fds",
        "limit of open file descriptors",
        p.max_fds as f64,
    );
    m.counter(
        "process_minor_page_faults_total",
        "page faults served without disk access",
        p.minor_faults as f64,
    );
    m.counter(
        "process_major_page_faults_total",
        "page faults that read from disk",
        p.major_faults as f64,
    );
}

pub async fn get(State(s): State<AppState>) -> Response {
    let cols = s.registry.all();
    let mut m = Scrape::default();
    let app = vec![(
        vec!["qdrant-node".into(), super::service::VERSION.into()],
        1.0,
    )];
    m.gauges(
        "app_info",
        "information about the node",
        &["name", "version"],
        app,
    );
    m.gauge(
        "app_status_recovery_mode",
        "recovery mode on (1) or off (0)",
        0.0,
    );
    collections(&mut m, &cols);
    cluster(&mut m, &s);
    m.0.extend(s.metrics.families());
    m.0.extend(s.grpc_metrics.families());
    process(&mut m);
    m.gauge(
        "uptime_seconds",
        "seconds since the node started",
        s.started.elapsed().as_secs_f64(),
    );
    // The encoder refuses a family without samples (no gRPC call yet, no collection).
    m.0.retain(|f| !f.get_metric().is_empty());
    let encoder = TextEncoder::new();
    let mut text = Vec::new();
    if let Err(e) = encoder.encode(&m.0, &mut text) {
        tracing::warn!(error = %e, "metrics not encoded");
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_string())],
        text,
    )
        .into_response()
}

/// Counts every REST answer by method, route pattern and status.
pub async fn track(
    State(metrics): State<Arc<ResponseMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    metrics.record(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
