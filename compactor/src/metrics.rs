//! Prometheus metrics of the compactor, kept in memory and rendered in the text exposition
//! format (version 0.0.4) at `GET /metrics`. A handful of families is all the daemon needs,
//! so a small registry here beats a dependency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use strata_format::{Error, ErrorKind, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Label pairs of one series, in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family: name, kind, help.
const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        SORTED_RUNS,
        Kind::Gauge,
        "Sorted runs per bucket at the latest snapshot the compactor saw.",
    ),
    (
        STALLED_BUCKETS,
        Kind::Gauge,
        "Buckets at num-sorted-run.stop-trigger, where writers wait for compaction.",
    ),
    (
        WRITE_STALLS,
        Kind::Counter,
        "Times a bucket reached num-sorted-run.stop-trigger (writers stall until it is compacted).",
    ),
    (
        COMPACTIONS,
        Kind::Counter,
        "Committed compactions by reason.",
    ),
    (
        ROWS_READ,
        Kind::Counter,
        "Rows read by compactions (input rows of rewritten files).",
    ),
    (ROWS_WRITTEN, Kind::Counter, "Rows written by compactions."),
    (
        BYTES_READ,
        Kind::Counter,
        "Bytes of the files compactions rewrote.",
    ),
    (
        BYTES_WRITTEN,
        Kind::Counter,
        "Bytes of the files compactions wrote.",
    ),
    (
        FILES_UPGRADED,
        Kind::Counter,
        "Files moved to a higher level without rewriting.",
    ),
    (
        CONFLICTS,
        Kind::Counter,
        "Compaction commits that lost to a concurrent change and were planned again.",
    ),
    (
        ERRORS,
        Kind::Counter,
        "Compactions or table scans that failed (retried after a backoff).",
    ),
    (
        LATENCY,
        Kind::Histogram,
        "Seconds from planning to the committed COMPACT snapshot.",
    ),
    (
        TABLES,
        Kind::Gauge,
        "Primary-key tables the compactor watches.",
    ),
    (
        MAINTENANCE_RUNS,
        Kind::Counter,
        "Scheduled maintenance passes (tags, consumers, snapshot and changelog expiry).",
    ),
    (
        SNAPSHOTS_EXPIRED,
        Kind::Counter,
        "Snapshots expired by scheduled maintenance.",
    ),
    (
        TAGS_CREATED,
        Kind::Counter,
        "Automatic tags created by scheduled maintenance.",
    ),
    (
        TAGS_DELETED,
        Kind::Counter,
        "Tags deleted by scheduled maintenance (retention, tag.num-retained-max).",
    ),
    (
        ORPHAN_RUNS,
        Kind::Counter,
        "Orphan cleanups run.",
    ),
    (
        FILES_REMOVED,
        Kind::Counter,
        "Files removed by maintenance, by kind (data, changelog, manifest, index, metadata, orphan).",
    ),
    (
        BYTES_REMOVED,
        Kind::Counter,
        "Bytes removed by maintenance, by kind.",
    ),
    (
        MAINTENANCE_ERRORS,
        Kind::Counter,
        "Maintenance passes or orphan cleanups that failed (tried again at the next turn).",
    ),
];

pub const SORTED_RUNS: &str = "strata_compactor_sorted_runs";
pub const STALLED_BUCKETS: &str = "strata_compactor_stalled_buckets";
pub const WRITE_STALLS: &str = "strata_compactor_write_stalls_total";
pub const COMPACTIONS: &str = "strata_compactor_compactions_total";
pub const ROWS_READ: &str = "strata_compactor_rows_read_total";
pub const ROWS_WRITTEN: &str = "strata_compactor_rows_written_total";
pub const BYTES_READ: &str = "strata_compactor_bytes_read_total";
pub const BYTES_WRITTEN: &str = "strata_compactor_bytes_written_total";
pub const FILES_UPGRADED: &str = "strata_compactor_files_upgraded_total";
pub const CONFLICTS: &str = "strata_compactor_conflicts_total";
pub const ERRORS: &str = "strata_compactor_errors_total";
pub const LATENCY: &str = "strata_compactor_compaction_seconds";
pub const TABLES: &str = "strata_compactor_tables";
pub const MAINTENANCE_RUNS: &str = "strata_compactor_maintenance_runs_total";
pub const SNAPSHOTS_EXPIRED: &str = "strata_compactor_snapshots_expired_total";
pub const TAGS_CREATED: &str = "strata_compactor_tags_created_total";
pub const TAGS_DELETED: &str = "strata_compactor_tags_deleted_total";
pub const ORPHAN_RUNS: &str = "strata_compactor_orphan_runs_total";
pub const FILES_REMOVED: &str = "strata_compactor_files_removed_total";
pub const BYTES_REMOVED: &str = "strata_compactor_bytes_removed_total";
pub const MAINTENANCE_ERRORS: &str = "strata_compactor_maintenance_errors_total";

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Clone)]
enum Series {
    Value(f64),
    Histogram {
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

/// The compactor's metrics; cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(&'static str, Labels), Series>>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(&'static str, Labels), Series>) -> T) -> T {
        // A panic while holding the lock cannot leave a half-updated number behind.
        let mut guard = self.series.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Adds `by` to a counter.
    pub fn inc(&self, name: &'static str, labels: Labels, by: f64) {
        self.with(|s| {
            if let Series::Value(v) = s.entry((name, labels)).or_insert(Series::Value(0.0)) {
                *v += by;
            }
        });
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: Labels, value: f64) {
        self.with(|s| {
            s.insert((name, labels), Series::Value(value));
        });
    }

    /// Drops every series of `name` whose labels fail `keep` (buckets that went away).
    pub fn retain(&self, name: &'static str, keep: impl Fn(&Labels) -> bool) {
        self.with(|s| s.retain(|(n, l), _| *n != name || keep(l)));
    }

    /// Records one observation in a histogram.
    pub fn observe(&self, name: &'static str, labels: Labels, value: f64) {
        self.with(|s| {
            let series = s
                .entry((name, labels))
                .or_insert_with(|| Series::Histogram {
                    counts: vec![0; LATENCY_BUCKETS.len()],
                    sum: 0.0,
                    count: 0,
                });
            if let Series::Histogram { counts, sum, count } = series {
                for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                    if value <= *bound {
                        counts[i] += 1;
                    }
                }
                *sum += value;
                *count += 1;
            }
        });
    }

    /// A counter's or gauge's value (a histogram's count), if the series exists.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.with(|s| {
            s.iter().find_map(|((n, l), v)| {
                let same = *n == name
                    && l.len() == labels.len()
                    && l.iter().zip(labels).all(|(a, b)| a.0 == b.0 && a.1 == b.1);
                match (same, v) {
                    (false, _) => None,
                    (true, Series::Value(v)) => Some(*v),
                    (true, Series::Histogram { count, .. }) => Some(*count as f64),
                }
            })
        })
    }

    /// The sum of a family over all its series.
    pub fn total(&self, name: &str) -> f64 {
        self.with(|s| {
            s.iter()
                .filter(|((n, _), _)| *n == name)
                .map(|(_, v)| match v {
                    Series::Value(v) => *v,
                    Series::Histogram { count, .. } => *count as f64,
                })
                .sum()
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let series = self.with(|s| s.clone());
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let kind_name = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind_name}");
            for ((n, labels), value) in series.range((*name, Vec::new())..) {
                if n != name {
                    break;
                }
                match value {
                    Series::Value(v) => {
                        let _ =
                            writeln!(out, "{name}{} {}", render_labels(labels, None), number(*v));
                    }
                    Series::Histogram { counts, sum, count } => {
                        for (bound, c) in LATENCY_BUCKETS.iter().zip(counts) {
                            let le = number(*bound);
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {c}",
                                render_labels(labels, Some(&le))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            render_labels(labels, Some("+Inf"))
                        );
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            render_labels(labels, None),
                            number(*sum)
                        );
                        let _ =
                            writeln!(out, "{name}_count{} {count}", render_labels(labels, None));
                    }
                }
            }
        }
        out
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds the metrics endpoint; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot listen for metrics on {addr}: {e}"),
        )
    })
}

/// Serves `GET /metrics` (and `GET /healthz`) until `stop` turns true.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(metrics);
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "the metrics endpoint stopped");
    }
}

async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::new();
        let t = || vec![("table", "db.t".to_string())];
        m.inc(
            COMPACTIONS,
            vec![("table", "db.t".into()), ("reason", "size-ratio".into())],
            1.0,
        );
        m.inc(
            COMPACTIONS,
            vec![("table", "db.t".into()), ("reason", "size-ratio".into())],
            2.0,
        );
        m.set(
            SORTED_RUNS,
            vec![("table", "db.\"t\"".into()), ("bucket", "0".into())],
            4.0,
        );
        m.observe(LATENCY, t(), 0.3);
        m.observe(LATENCY, t(), 7.0);
        let text = m.render();
        assert!(text.contains("# TYPE strata_compactor_compactions_total counter"));
        assert!(text.contains(
            "strata_compactor_compactions_total{table=\"db.t\",reason=\"size-ratio\"} 3\n"
        ));
        assert!(
            text.contains("strata_compactor_sorted_runs{table=\"db.\\\"t\\\"\",bucket=\"0\"} 4\n")
        );
        assert!(text
            .contains("strata_compactor_compaction_seconds_bucket{table=\"db.t\",le=\"0.5\"} 1\n"));
        assert!(text.contains(
            "strata_compactor_compaction_seconds_bucket{table=\"db.t\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("strata_compactor_compaction_seconds_sum{table=\"db.t\"} 7.3\n"));
        assert_eq!(m.value(LATENCY, &[("table", "db.t")]), Some(2.0));
        assert_eq!(m.total(COMPACTIONS), 3.0);
        m.retain(SORTED_RUNS, |_| false);
        assert_eq!(m.total(SORTED_RUNS), 0.0);
    }
}
