//! Prometheus metrics of the controller and the `/metrics` + `/healthz` HTTP server.

use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, Registry, TextEncoder};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounter,
    failures: IntCounter,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let reconciles = IntCounter::new("qdrant_operator_reconciles_total", "reconciles run")
            .expect("valid counter");
        let failures = IntCounter::new(
            "qdrant_operator_reconcile_failures_total",
            "reconciles that failed",
        )
        .expect("valid counter");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "qdrant_operator_reconcile_duration_seconds",
                "time one reconcile took",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0]),
        )
        .expect("valid histogram");
        let registry = Registry::new();
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
        ] {
            registry.register(c).expect("metric names are distinct");
        }
        Self {
            registry,
            reconciles,
            failures,
            duration,
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn failed(&self) {
        self.failures.inc();
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics not encoded");
        }
        String::from_utf8(buf).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_counted_and_timed() {
        let m = Metrics::default();
        m.reconciled(Duration::from_millis(30));
        m.reconciled(Duration::from_millis(70));
        m.failed();
        let t = m.render();
        assert!(t.contains("qdrant_operator_reconciles_total 2"), "{t}");
        assert!(
            t.contains("qdrant_operator_reconcile_failures_total 1"),
            "{t}"
        );
        assert!(
            t.contains("qdrant_operator_reconcile_duration_seconds_bucket{le=\"0.05\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("qdrant_operator_reconcile_duration_seconds_count 2"),
            "{t}"
        );
    }
}
