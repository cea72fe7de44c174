//! Request counters and durations by route, rendered in Prometheus text format.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// (method, route, status)
pub type RouteKey = (String, String, u16);

/// Responses of one route and status.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub count: u64,
    pub total_secs: f64,
    pub min_secs: f64,
    pub max_secs: f64,
    pub last: std::time::SystemTime,
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RouteKey, Stat>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut m = self.requests.lock();
        let e = m
            .entry((method.to_string(), route.to_string(), status))
            .or_insert(Stat {
                count: 0,
                total_secs: 0.0,
                min_secs: f64::INFINITY,
                max_secs: 0.0,
                last: std::time::SystemTime::now(),
            });
        e.count += 1;
        e.total_secs += secs;
        e.min_secs = e.min_secs.min(secs);
        e.max_secs = e.max_secs.max(secs);
        e.last = std::time::SystemTime::now();
    }

    /// Every (method, route, status) seen so far with its statistics.
    pub fn stats(&self) -> Vec<(RouteKey, Stat)> {
        self.requests
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Prometheus exposition text; `gauges` are (name, help, value) read at scrape time.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let m = self.requests.lock();
        let _ = writeln!(
            out,
            "# HELP rest_responses_total number of responses\n# TYPE rest_responses_total counter"
        );
        for ((method, route, status), Stat { count, .. }) in m.iter() {
            let _ = writeln!(out, "rest_responses_total{{method=\"{method}\",endpoint=\"{route}\",status=\"{status}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP rest_responses_duration_seconds_sum total response time\n# TYPE rest_responses_duration_seconds_sum counter"
        );
        for (
            (method, route, status),
            Stat {
                total_secs: secs, ..
            },
        ) in m.iter()
        {
            let _ = writeln!(
                out,
                "rest_responses_duration_seconds_sum{{method=\"{method}\",endpoint=\"{route}\",status=\"{status}\"}} {secs}"
            );
        }
        out
    }
}

/// One gauge with labels, in the text format: `name{k="v",…} value` per row.
pub fn labeled(name: &str, help: &str, rows: &[(Vec<(&str, String)>, f64)]) -> String {
    let mut out = format!("# HELP {name} {help}\n# TYPE {name} gauge\n");
    for (labels, v) in rows {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, val)| format!("{k}=\"{}\"", val.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {v}", l.join(","));
    }
    out
}

pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
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
