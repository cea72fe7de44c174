//! Latency percentiles and the process's resident memory.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Run {
    pub ef: usize,
    pub recall: f64,
    pub qps: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn summarize(ef: usize, recall: f64, mut lat: Vec<Duration>, wall: Duration) -> Run {
    lat.sort();
    Run {
        ef,
        recall,
        qps: lat.len() as f64 / wall.as_secs_f64().max(1e-9),
        p50: percentile(&lat, 0.5),
        p95: percentile(&lat, 0.95),
        p99: percentile(&lat, 0.99),
    }
}

pub fn print_runs(title: &str, runs: &[Run]) {
    println!("{title}");
    println!(
        "  {:>6} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "ef", "recall", "qps", "p50_ms", "p95_ms", "p99_ms"
    );
    for r in runs {
        println!(
            "  {:>6} {:>8.4} {:>10.1} {:>10.3} {:>10.3} {:>10.3}",
            r.ef,
            r.recall,
            r.qps,
            r.p50.as_secs_f64() * 1e3,
            r.p95.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    for target in [0.95, 0.99] {
        match runs.iter().find(|r| r.recall >= target) {
            Some(r) => println!(
                "  at recall@10 >= {target}: ef={} qps={:.1} p50={:.3}ms p95={:.3}ms p99={:.3}ms",
                r.ef,
                r.qps,
                r.p50.as_secs_f64() * 1e3,
                r.p95.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3
            ),
            None => println!("  recall@10 >= {target}: not reached"),
        }
    }
}

/// Resident set size in bytes of `pid` (or this process), from /proc.
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
