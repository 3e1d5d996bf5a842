//! What the benches measure of the processes they run, read from /proc (Linux): latency
//! quantiles, peak memory and CPU time. Shared by the benches through `#[path]`.

#![allow(dead_code, reason = "each bench uses a part of this module")]

use std::time::Instant;

/// The `p` quantile of sorted microseconds, in ms.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// VmHWM of process `pid`, from /proc (Linux).
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU seconds used so far by the service, this driver and every `postgres` process.
pub struct CpuSample {
    pub at: Instant,
    pub service: f64,
    pub driver: f64,
    pub postgres: f64,
}

impl CpuSample {
    pub fn take(service_pid: u32) -> Self {
        let postgres = std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                    .filter(|pid| {
                        std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .is_ok_and(|comm| comm.trim() == "postgres")
                    })
                    .map(|pid| cpu_seconds(&pid.to_string()))
                    .sum()
            })
            .unwrap_or(f64::NAN);
        Self {
            at: Instant::now(),
            service: cpu_seconds(&service_pid.to_string()),
            driver: cpu_seconds("self"),
            postgres,
        }
    }
}

/// User plus system time of a process, assuming 100 clock ticks a second.
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
            let user = fields.get(11)?.parse::<f64>().ok()?;
            let system = fields.get(12)?.parse::<f64>().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(0.0)
}
