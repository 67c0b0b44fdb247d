//! Named failpoints for crash tests. A process started with `STRATA_FAILPOINTS=name[,name…]`
//! aborts (as abruptly as `kill -9`) when it reaches one of those points. Without the
//! variable a failpoint costs one atomic load.

use std::sync::OnceLock;

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("STRATA_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process if `name` is armed.
pub fn hit(name: &str) {
    let armed = armed();
    if !armed.is_empty() && armed.iter().any(|a| a == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
