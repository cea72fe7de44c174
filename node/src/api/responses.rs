//! Answers of the REST and gRPC APIs counted by route (REST: method, route and status; gRPC:
//! method path, failures apart) with Prometheus counters and histograms under Qdrant's metric
//! names, plus each route's min/max/last for `/telemetry`.

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// (method, route, status); gRPC answers have an empty method.
pub type RouteKey = (String, String, u16);

/// Responses of one route and status.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub count: u64,
    pub total_secs: f64,
    pub min_secs: f64,
    pub max_secs: f64,
    pub last: SystemTime,
}

/// Histogram buckets of response durations, in seconds (Qdrant's).
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0,
];

#[derive(Debug)]
pub struct ResponseMetrics {
    /// `rest` or `grpc`: the metric names' prefix.
    api: &'static str,
    /// Label names, in the order `labels` gives their values.
    names: &'static [&'static str],
    total: IntCounterVec,
    failed: Option<IntCounterVec>,
    duration: HistogramVec,
    stats: Mutex<BTreeMap<RouteKey, Stat>>,
}

impl ResponseMetrics {
    /// REST answers, labelled `method`, `endpoint` (the route pattern) and `status`.
    pub fn rest() -> Self {
        Self::new("rest", &["method", "endpoint", "status"], false)
    }

    /// gRPC answers, labelled `endpoint` (the method path); failures counted apart.
    pub fn grpc() -> Self {
        Self::new("grpc", &["endpoint"], true)
    }

    fn new(api: &'static str, labels: &'static [&'static str], failures: bool) -> Self {
        let counter = |name: String, help: &str| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
        };
        let hist = HistogramOpts::new(
            format!("{api}_responses_duration_seconds"),
            "response duration histogram",
        )
        .buckets(BUCKETS.to_vec());
        Self {
            api,
            names: labels,
            total: counter(
                format!("{api}_responses_total"),
                "total number of responses",
            ),
            failed: failures.then(|| {
                counter(
                    format!("{api}_responses_fail_total"),
                    "total number of failed responses",
                )
            }),
            duration: HistogramVec::new(hist, labels).expect("valid histogram"),
            stats: Mutex::default(),
        }
    }

    /// Label values of one answer in this API's label order.
    fn labels<'a>(&self, key: &'a RouteKey, status: &'a str) -> Vec<&'a str> {
        match self.failed {
            Some(_) => vec![key.1.as_str()],
            None => vec![key.0.as_str(), key.1.as_str(), status],
        }
    }

    pub fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        let key = (method.to_string(), route.to_string(), status);
        let code = status.to_string();
        let labels = self.labels(&key, &code);
        self.total.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(secs);
        if let (Some(failed), true) = (&self.failed, status != 0) {
            failed.with_label_values(&labels).inc();
        }
        let now = SystemTime::now();
        let mut m = self.stats.lock();
        let e = m.entry(key).or_insert(Stat {
            count: 0,
            total_secs: 0.0,
            min_secs: f64::INFINITY,
            max_secs: 0.0,
            last: now,
        });
        e.count += 1;
        e.total_secs += secs;
        e.min_secs = e.min_secs.min(secs);
        e.max_secs = e.max_secs.max(secs);
        e.last = now;
    }

    /// Every (method, route, status) seen so far with its statistics.
    pub fn stats(&self) -> Vec<(RouteKey, Stat)> {
        self.stats
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The metric families: counters, the histogram, and avg/min/max gauges per label set.
    pub fn families(&self) -> Vec<MetricFamily> {
        let mut out = self.total.collect();
        if let Some(f) = &self.failed {
            out.extend(f.collect());
        }
        let gauge = |what: &str, help: &str| {
            let name = format!("{}_responses_{what}_duration_seconds", self.api);
            GaugeVec::new(Opts::new(name, help), self.names).expect("valid gauge")
        };
        let avg = gauge("avg", "average response duration");
        let min = gauge("min", "minimum response duration");
        let max = gauge("max", "maximum response duration");
        // gRPC label sets merge every status of a method.
        let mut merged: BTreeMap<Vec<String>, Stat> = BTreeMap::new();
        for (key, st) in self.stats() {
            let code = key.2.to_string();
            let l: Vec<String> = self
                .labels(&key, &code)
                .iter()
                .map(|s| s.to_string())
                .collect();
            merged
                .entry(l)
                .and_modify(|m| {
                    m.count += st.count;
                    m.total_secs += st.total_secs;
                    m.min_secs = m.min_secs.min(st.min_secs);
                    m.max_secs = m.max_secs.max(st.max_secs);
                })
                .or_insert(st);
        }
        for (l, st) in &merged {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            avg.with_label_values(&l)
                .set(st.total_secs / st.count.max(1) as f64);
            min.with_label_values(&l).set(st.min_secs);
            max.with_label_values(&l).set(st.max_secs);
        }
        for g in [avg, min, max] {
            out.extend(g.collect());
        }
        out.extend(self.duration.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &ResponseMetrics) -> String {
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &m.families(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn rest_answers_counted_by_method_route_and_status() {
        let m = ResponseMetrics::rest();
        m.record("PUT", "/collections/{collection_name}", 200, 0.003);
        m.record("PUT", "/collections/{collection_name}", 200, 0.007);
        m.record("GET", "/collections/{collection_name}", 404, 0.0001);
        let t = text(&m);
        let l = r#"{endpoint="/collections/{collection_name}",method="PUT",status="200"}"#;
        assert!(t.contains(&format!("rest_responses_total{l} 2")), "{t}");
        assert!(
            t.contains(&format!("rest_responses_min_duration_seconds{l} 0.003")),
            "{t}"
        );
        assert!(
            t.contains(&format!("rest_responses_max_duration_seconds{l} 0.007")),
            "{t}"
        );
        assert!(
            t.contains(&format!("rest_responses_avg_duration_seconds{l} 0.005")),
            "{t}"
        );
        let b = r#"rest_responses_duration_seconds_bucket{endpoint="/collections/{collection_name}",method="PUT",status="200",le="0.005"} 1"#;
        assert!(t.contains(b), "{t}");
        assert!(t.contains(r#"status="404"} 1"#), "{t}");
        assert_eq!(m.stats().len(), 2);
    }

    #[test]
    fn grpc_failures_counted_apart() {
        let m = ResponseMetrics::grpc();
        m.record("", "/qdrant.Points/Upsert", 0, 0.002);
        m.record("", "/qdrant.Points/Upsert", 5, 0.004);
        let t = text(&m);
        let l = r#"{endpoint="/qdrant.Points/Upsert"}"#;
        assert!(t.contains(&format!("grpc_responses_total{l} 2")), "{t}");
        assert!(
            t.contains(&format!("grpc_responses_fail_total{l} 1")),
            "{t}"
        );
        assert!(
            t.contains(&format!("grpc_responses_min_duration_seconds{l} 0.002")),
            "{t}"
        );
        assert!(
            t.contains(&format!("grpc_responses_max_duration_seconds{l} 0.004")),
            "{t}"
        );
    }
}
