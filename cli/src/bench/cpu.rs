//! CPU time and peak memory of this process and its children (`getrusage`): benchmarks
//! report rows per CPU-second, which is per core whatever else the machine runs.

/// Measures CPU seconds (user + system, all threads of this process) from its start.
pub struct CpuTimer {
    start: f64,
}

impl CpuTimer {
    pub fn start() -> Self {
        CpuTimer {
            start: cpu_seconds(libc::RUSAGE_SELF),
        }
    }

    pub fn seconds(&self) -> f64 {
        (cpu_seconds(libc::RUSAGE_SELF) - self.start).max(1e-9)
    }
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

/// Peak resident set size of this process, in bytes (Linux reports KiB).
pub fn peak_rss_bytes() -> u64 {
    usage(libc::RUSAGE_SELF).ru_maxrss.max(0) as u64 * 1024
}
