//! CPU time and peak memory of this process and its children (`getrusage`): benchmarks
//! report rows per CPU-second, which is per core whatever else the machine runs.

use std::sync::atomic::{AtomicBool, Ordering};

static USER_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes every [`CpuTimer`] count user time only (`strata-bench --user-cpu`): on a VM
/// whose kernel time swings with the host's page cache, user time compares code with code.
pub fn count_user_time_only() {
    USER_ONLY.store(true, Ordering::Relaxed);
}

/// Whether [`count_user_time_only`] was called.
pub fn user_time_only() -> bool {
    USER_ONLY.load(Ordering::Relaxed)
}

/// Measures CPU seconds (user + system, all threads of this process, or user alone after
/// [`count_user_time_only`]) from its start.
pub struct CpuTimer {
    start: f64,
    start_system: f64,
}

impl CpuTimer {
    pub fn start() -> Self {
        CpuTimer {
            start: cpu_seconds(libc::RUSAGE_SELF),
            start_system: system_seconds(libc::RUSAGE_SELF),
        }
    }

    pub fn seconds(&self) -> f64 {
        let mut seconds = cpu_seconds(libc::RUSAGE_SELF) - self.start;
        if user_time_only() {
            seconds -= self.system_seconds();
        }
        seconds.max(1e-9)
    }

    /// The part of [`CpuTimer::seconds`] spent in the kernel (page faults, file writes).
    pub fn system_seconds(&self) -> f64 {
        system_seconds(libc::RUSAGE_SELF) - self.start_system
    }
}

fn system_seconds(who: libc::c_int) -> f64 {
    let t = usage(who).ru_stime;
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn usage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    }
}

fn cpu_seconds(who: libc::c_int) -> f64 {
    let u = usage(who);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Peak resident set size of this process's memory, in bytes: `VmHWM`, which starts afresh
/// at `exec` (`ru_maxrss` does not: a child would report its parent's peak at fork).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(
            || usage(libc::RUSAGE_SELF).ru_maxrss.max(0) as u64 * 1024,
            |kib| kib * 1024,
        )
}
