//! Prometheus metrics of the controller and the `/metrics` + `/healthz` HTTP server.

use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    failures: AtomicU64,
    duration_micros: AtomicU64,
}

impl Metrics {
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        self.duration_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let n = self.reconciles.load(Ordering::Relaxed);
        let f = self.failures.load(Ordering::Relaxed);
        let secs = self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6;
        format!(
            "# TYPE qdrant_operator_reconciles_total counter\nqdrant_operator_reconciles_total {n}\n\
             # TYPE qdrant_operator_reconcile_failures_total counter\nqdrant_operator_reconcile_failures_total {f}\n\
             # TYPE qdrant_operator_reconcile_duration_seconds summary\n\
             qdrant_operator_reconcile_duration_seconds_sum {secs}\nqdrant_operator_reconcile_duration_seconds_count {n}\n"
        )
    }
}

/// Serves `/metrics` and `/healthz` on `listener`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        );
    axum::serve(listener, app).await
}
