//! This process's resource readings from `/proc` (Linux; zeros elsewhere).

/// What `/metrics` and `/telemetry` report about the process.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Process {
    pub resident_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub open_mmaps: u64,
    pub max_mmaps: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The number after `label` on the line that starts with it.
fn field(text: &str, label: &str, nth: usize) -> u64 {
    text.lines()
        .find(|l| l.starts_with(label))
        .and_then(|l| l[label.len()..].split_whitespace().nth(nth)?.parse().ok())
        .unwrap_or(0)
}

/// Fields of `/proc/self/stat` counted from 1 as proc(5) numbers them.
fn stat_field(stat: &str, n: usize) -> u64 {
    // The command name (field 2) may hold spaces; count from the closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(n - 3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn resident_bytes() -> u64 {
    read("/proc/self/statm")
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

pub fn read_all() -> Process {
    let stat = read("/proc/self/stat");
    Process {
        resident_bytes: resident_bytes(),
        threads: field(&read("/proc/self/status"), "Threads:", 0),
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        max_fds: field(&read("/proc/self/limits"), "Max open files", 0),
        open_mmaps: read("/proc/self/maps").lines().count() as u64,
        max_mmaps: read("/proc/sys/vm/max_map_count")
            .trim()
            .parse()
            .unwrap_or(0),
        minor_faults: stat_field(&stat, 10),
        major_faults: stat_field(&stat, 12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_counted_past_a_name_with_spaces() {
        let stat = "42 (my node) S 1 42 42 0 -1 4194560 1234 0 7 0 5 6";
        assert_eq!(stat_field(stat, 10), 1234);
        assert_eq!(stat_field(stat, 12), 7);
        assert_eq!(
            field("Max open files  20000  40000  files\n", "Max open files", 0),
            20000
        );
    }

    #[test]
    fn this_process_reads_plausibly() {
        let p = read_all();
        assert!(
            p.threads >= 1 && p.open_fds >= 3 && p.open_mmaps > 0,
            "{p:?}"
        );
        assert!(
            p.resident_bytes > 1 << 20 && p.max_fds >= p.open_fds,
            "{p:?}"
        );
    }
}
