//! Percentiles and process figures for the reports.

use std::collections::BTreeMap;
use std::path::Path;

/// The `p`-th percentile (0..=100) of `values` (sorted in place), in the
/// nearest-rank sense; `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// Peak resident set size of a process, in MiB (Linux `VmHWM`).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time a process has used so far (user and system, all threads), in
/// seconds; `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields follow its closing paren.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let total = ticks(11)? + ticks(12)?;
    Some(total as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// Bytes of the SQLite database of a node (main file, WAL and shared memory).
pub fn db_bytes(data_dir: &Path) -> u64 {
    ["evote.sqlite3", "evote.sqlite3-wal", "evote.sqlite3-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Bytes a node's SQLite database uses, by table (an index counts with its
/// table), read through SQLite's `dbstat` while the node runs.
pub fn table_bytes(data_dir: &Path) -> Option<BTreeMap<String, u64>> {
    let db = rusqlite::Connection::open_with_flags(
        data_dir.join("evote.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let mut q = db
        .prepare(
            "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d \
             JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name",
        )
        .ok()?;
    let rows = q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .ok()?;
    rows.map(|r| r.ok().map(|(t, n)| (t, n.max(0) as u64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu_and_a_missing_one_none() {
        let busy = std::time::Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let used = cpu_seconds(std::process::id()).unwrap();
        assert!(used > 0.0, "{used}");
        assert_eq!(cpu_seconds(u32::MAX), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut v, 100.0), Some(100.0));
        assert_eq!(percentile(&mut [3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
