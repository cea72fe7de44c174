//! Cluster-wide resource quotas (`GET/PUT /quotas`): the limits are set through consensus and
//! kept in the metadata store; each node measures its own resident memory and the fill of its
//! storage filesystem, and while one is at its limit, writes that take memory or disk and go
//! to a replica on that node are refused (deletes still pass). A resource that reached its
//! limit stays flagged until it falls `release_margin_percent` below it.

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Points below a limit a resource must fall to before writes pass again, unless set.
const DEFAULT_MARGIN: u8 = 5;
/// How long one reading of the resources serves the checks of writes.
const READING_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub max_resident_memory_percent: Option<u8>,
    #[serde(default)]
    pub max_disk_usage_percent: Option<u8>,
    #[serde(default)]
    pub release_margin_percent: Option<u8>,
}

impl QuotaConfig {
    pub fn validate(&self) -> Result<(), String> {
        let limits = [
            (
                "max_resident_memory_percent",
                self.max_resident_memory_percent,
            ),
            ("max_disk_usage_percent", self.max_disk_usage_percent),
        ];
        for (name, v) in limits {
            if let Some(p) = v.filter(|p| !(1..=100).contains(p)) {
                return Err(format!("{name}: value {p} invalid, must be from 1 to 100"));
            }
        }
        match self.release_margin_percent {
            Some(m) if m > 100 => Err(format!(
                "release_margin_percent: value {m} invalid, must be from 0 to 100"
            )),
            _ => Ok(()),
        }
    }
}

/// This node's readings, in percent; `None` where the platform does not tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub resident_memory_percent: Option<u8>,
    pub disk_usage_percent: Option<u8>,
}

/// Which enforced limit this node is over; `None`: not enforced (or not measurable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exceeded {
    pub resident_memory: Option<bool>,
    pub disk_usage: Option<bool>,
}

impl Exceeded {
    pub fn any(&self) -> bool {
        self.resident_memory == Some(true) || self.disk_usage == Some(true)
    }
}

/// What a peer reports about itself (`PeerQuotaUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerUsage {
    pub exceeded: bool,
    pub resident_memory_percent: Option<u8>,
    pub disk_usage_percent: Option<u8>,
}

#[derive(Debug)]
pub struct Quota {
    config: RwLock<QuotaConfig>,
    /// Flags that outlast the reading that set them (memory, disk).
    flags: Mutex<(bool, bool)>,
    /// The last reading and when it was taken (writes check it, not the files, each time).
    last: Mutex<Option<(Instant, Usage)>>,
    storage: PathBuf,
}

/// One step of the flag of a resource: set at the limit, cleared a margin below it.
fn step(flag: bool, used: u8, limit: u8, margin: u8) -> bool {
    if flag {
        used.saturating_add(margin) >= limit.max(1)
    } else {
        used >= limit
    }
}

impl Quota {
    pub fn new(config: QuotaConfig, storage: &Path) -> Quota {
        Quota {
            config: RwLock::new(config),
            flags: Mutex::new((false, false)),
            last: Mutex::new(None),
            storage: storage.to_path_buf(),
        }
    }

    pub fn config(&self) -> QuotaConfig {
        self.config.read().clone()
    }

    pub fn set(&self, config: QuotaConfig) {
        *self.config.write() = config;
        *self.flags.lock() = (false, false);
        *self.last.lock() = None;
    }

    /// A fresh reading of the resources.
    pub fn usage(&self) -> Usage {
        let u = Usage {
            resident_memory_percent: memory_percent(),
            disk_usage_percent: disk_percent(&self.storage),
        };
        *self.last.lock() = Some((Instant::now(), u));
        u
    }

    /// The last reading if it is recent enough, else a fresh one.
    fn reading(&self) -> Usage {
        match *self.last.lock() {
            Some((at, u)) if at.elapsed() < READING_TTL => return u,
            _ => {}
        }
        self.usage()
    }

    /// Checks a recent reading against the limits and updates the flags.
    pub fn exceeded(&self) -> Exceeded {
        let c = self.config();
        if !c.enabled {
            return Exceeded::default();
        }
        let u = self.reading();
        let margin = c.release_margin_percent.unwrap_or(DEFAULT_MARGIN);
        let mut flags = self.flags.lock();
        let mut out = Exceeded::default();
        if let (Some(limit), Some(used)) =
            (c.max_resident_memory_percent, u.resident_memory_percent)
        {
            flags.0 = step(flags.0, used, limit, margin);
            out.resident_memory = Some(flags.0);
        }
        if let (Some(limit), Some(used)) = (c.max_disk_usage_percent, u.disk_usage_percent) {
            flags.1 = step(flags.1, used, limit, margin);
            out.disk_usage = Some(flags.1);
        }
        out
    }

    pub fn peer_usage(&self) -> PeerUsage {
        let u = self.reading();
        PeerUsage {
            exceeded: self.exceeded().any(),
            resident_memory_percent: u.resident_memory_percent,
            disk_usage_percent: u.disk_usage_percent,
        }
    }

    /// Why this node refuses writes that take memory or disk now, if it does.
    pub fn refusal(&self) -> Option<String> {
        let e = self.exceeded();
        let over: Vec<&str> = [
            (e.resident_memory, "resident memory"),
            (e.disk_usage, "disk usage"),
        ]
        .into_iter()
        .filter(|(x, _)| *x == Some(true))
        .map(|(_, name)| name)
        .collect();
        (!over.is_empty()).then(|| format!("{} over the quota", over.join(" and ")))
    }
}

fn percent(used: u64, total: u64) -> Option<u8> {
    (total > 0).then(|| (used.saturating_mul(100) / total).min(255) as u8)
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Resident memory of this process as a share of the memory it may use: the cgroup limit
/// if one applies, else the machine's.
fn memory_percent() -> Option<u8> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss = kb_field(&status, "VmRSS:")? * 1024;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut total = kb_field(&meminfo, "MemTotal:")? * 1024;
    for path in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        let limit = std::fs::read_to_string(path).ok();
        if let Some(l) = limit.and_then(|s| s.trim().parse::<u64>().ok()) {
            total = total.min(l);
        }
    }
    percent(rss, total)
}

/// Used space of the filesystem holding `path`, as `df` counts it.
fn disk_percent(path: &Path) -> Option<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `s` a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let used = (s.f_blocks - s.f_bfree) as u64;
    percent(used, used + s.f_bavail as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_at_the_limit_and_clear_a_margin_below() {
        assert!(!step(false, 79, 80, 5));
        assert!(step(false, 80, 80, 5));
        assert!(step(true, 76, 80, 5), "still within the margin");
        assert!(!step(true, 74, 80, 5));
        assert!(
            !step(true, 79, 80, 0),
            "no margin: released under the limit"
        );
    }

    #[test]
    fn configs_are_checked_and_readings_are_percentages() {
        let bad = QuotaConfig {
            max_disk_usage_percent: Some(0),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("max_disk_usage_percent"));
        let bad = QuotaConfig {
            release_margin_percent: Some(101),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let dir = tempfile::tempdir().unwrap();
        let q = Quota::new(QuotaConfig::default(), dir.path());
        let u = q.usage();
        assert!(u.resident_memory_percent.is_some_and(|p| p <= 100));
        assert!(u.disk_usage_percent.is_some_and(|p| p <= 100));
        assert_eq!(
            q.exceeded(),
            Exceeded::default(),
            "disabled: nothing enforced"
        );
        q.set(QuotaConfig {
            enabled: true,
            max_disk_usage_percent: Some(1),
            ..Default::default()
        });
        let e = q.exceeded();
        assert_eq!(e.resident_memory, None, "no memory limit set");
        assert_eq!(e.disk_usage, Some(u.disk_usage_percent >= Some(1)));
    }
}
