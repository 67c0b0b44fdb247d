//! `strata-catalog-bench`: loadTable throughput and latency of the Iceberg REST catalog,
//! as ratios against baselines measured in the same run, printed as JSON.
//!
//! ```text
//! strata-catalog-bench [--tables N] [--strata-tables N] [--clients C] [--seconds S]
//! ```
//!
//! A fresh local warehouse gets one namespace with N tables (default 1,000): N − M plain
//! Iceberg tables and M Strata tables (default 100, served through generated metadata). The
//! catalog runs in this process on 127.0.0.1; C clients (default 64) each keep one HTTP/1.1
//! connection and load random tables for S seconds (default 5) after a warm-up that loads
//! every table once. Baselines, same clients and duration:
//!
//! - `health`: `GET /health` through the same server and connections (the HTTP floor);
//! - `file_read`: reading a table's current metadata file straight from disk, no HTTP
//!   (what a catalog-less reader pays per table).
//!
//! Everything shares the machine's cores, so the numbers are relative, not absolute.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::schema::TableSchema;
use strata_format::types::DataType;
use strata_rest_catalog::{router, CatalogService, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USAGE: &str =
    "strata-catalog-bench [--tables N] [--strata-tables N] [--clients C] [--seconds S]";

struct Config {
    tables: usize,
    strata_tables: usize,
    clients: usize,
    seconds: f64,
}

/// One keep-alive HTTP/1.1 connection: enough of the protocol for GETs of JSON bodies.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(stream),
        })
    }

    /// GETs `path`; returns the status and body length.
    async fn get(&mut self, path: &str) -> std::io::Result<(u16, usize)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, length))
    }
}

/// Throughput and latency percentiles of one measurement.
struct Measured {
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn json(&self) -> serde_json::Value {
        json!({"requests": self.requests, "seconds": round(self.seconds),
               "requests_per_s": round(self.rps()), "p50_ms": round(self.p50_ms),
               "p99_ms": round(self.p99_ms)})
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn summarize(mut latencies: Vec<Duration>, seconds: f64) -> Measured {
    latencies.sort();
    let pct = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    Measured {
        requests: latencies.len(),
        seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// A small deterministic generator (SplitMix64) per client.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `clients` HTTP clients for `seconds`, each GETting `paths[random]`.
async fn http_load(addr: &str, paths: Arc<Vec<String>>, cfg: &Config) -> Result<Measured, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cfg.clients {
        let (addr, paths) = (addr.to_string(), paths.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.map_err(|e| e.to_string())?;
            let mut rng = c as u64 + 1;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let path = &paths[(next(&mut rng) % paths.len() as u64) as usize];
                let t = Instant::now();
                let (status, _) = conn.get(path).await.map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("GET {path} answered {status}"));
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(summarize(all, started.elapsed().as_secs_f64()))
}

/// The same access pattern without HTTP: read metadata files from disk.
async fn file_load(files: Arc<Vec<PathBuf>>, cfg: &Config) -> Result<Measured, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cfg.clients {
        let files = files.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = c as u64 + 1;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let f = &files[(next(&mut rng) % files.len() as u64) as usize];
                let t = Instant::now();
                let bytes = tokio::fs::read(f).await.map_err(|e| e.to_string())?;
                std::hint::black_box(bytes.len());
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(summarize(all, started.elapsed().as_secs_f64()))
}

async fn run(cfg: Config) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let wh = dir.path().join("warehouse");
    std::fs::create_dir_all(&wh).map_err(|e| e.to_string())?;
    let uri = wh.to_str().ok_or("non-UTF-8 temp path")?.to_string();
    let service = Arc::new(CatalogService::open(&uri).map_err(|e| e.message)?);
    let err = |e: strata_rest_catalog::CatalogError| e.message;
    service
        .create_namespace(&["bench".to_string()], Default::default())
        .await
        .map_err(err)?;
    let strata = Catalog::open(&uri).map_err(|e| e.to_string())?;
    let plain = cfg.tables.saturating_sub(cfg.strata_tables);
    let mut files = Vec::new();
    let schema = json!({
        "type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": true, "type": "long"},
            {"id": 2, "name": "name", "required": false, "type": "string"},
            {"id": 3, "name": "amount", "required": false, "type": "decimal(10, 2)"},
            {"id": 4, "name": "ts", "required": false, "type": "timestamptz"}]});
    for i in 0..plain {
        let req: strata_rest_catalog::types::CreateTableRequest = serde_json::from_value(json!({
            "name": format!("t{i:05}"), "schema": schema}))
        .map_err(|e| e.to_string())?;
        let r = service
            .create_table(&["bench".to_string()], req)
            .await
            .map_err(err)?;
        if let Some(loc) = r.metadata_location {
            files.push(PathBuf::from(loc.trim_start_matches("file://")));
        }
    }
    for i in 0..cfg.strata_tables.min(cfg.tables) {
        let fields = vec![
            (
                "id",
                DataType::parse("BIGINT NOT NULL").map_err(|e| e.to_string())?,
            ),
            (
                "name",
                DataType::parse("STRING").map_err(|e| e.to_string())?,
            ),
        ];
        let schema = TableSchema::new_for_create(
            fields,
            vec![],
            vec!["id".to_string()],
            [("bucket", "1")],
            None,
        )
        .map_err(|e| e.to_string())?;
        let id = Identifier::new("bench", format!("s{i:05}")).map_err(|e| e.to_string())?;
        strata
            .create_table(&id, schema)
            .await
            .map_err(|e| e.to_string())?;
    }
    let names: Vec<String> = (0..plain)
        .map(|i| format!("t{i:05}"))
        .chain((0..cfg.strata_tables.min(cfg.tables)).map(|i| format!("s{i:05}")))
        .collect();
    let app = router(service.clone(), ServerConfig::default()).map_err(err)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let load_paths: Arc<Vec<String>> = Arc::new(
        names
            .iter()
            .map(|n| format!("/v1/namespaces/bench/tables/{n}"))
            .collect(),
    );
    // Warm-up: every table once (Strata tables generate their metadata here).
    let mut conn = Conn::open(&addr).await.map_err(|e| e.to_string())?;
    for p in load_paths.iter() {
        let (status, _) = conn.get(p).await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("warm-up GET {p} answered {status}"));
        }
    }
    let load = http_load(&addr, load_paths, &cfg).await?;
    let health = http_load(&addr, Arc::new(vec!["/health".to_string()]), &cfg).await?;
    let file_read = file_load(Arc::new(files), &cfg).await?;
    server.abort();
    Ok(json!({
        "benchmark": "catalog_load_table",
        "tables": cfg.tables,
        "strata_tables": cfg.strata_tables.min(cfg.tables),
        "clients": cfg.clients,
        "load_table": load.json(),
        "baselines": {"health": health.json(), "file_read": file_read.json()},
        "ratios": {
            "load_table_rps_vs_health": round(load.rps() / health.rps().max(1e-9)),
            "load_table_p50_vs_health": round(load.p50_ms / health.p50_ms.max(1e-9)),
            "load_table_p99_vs_health": round(load.p99_ms / health.p99_ms.max(1e-9)),
            "load_table_rps_vs_file_read": round(load.rps() / file_read.rps().max(1e-9)),
        }
    }))
}

fn main() {
    let mut cfg = Config {
        tables: 1000,
        strata_tables: 100,
        clients: 64,
        seconds: 5.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| -> f64 {
            match args.next().and_then(|v| v.parse::<f64>().ok()) {
                Some(n) if n >= 0.0 => n,
                _ => {
                    eprintln!("error: {what} needs a non-negative number");
                    std::process::exit(2);
                }
            }
        };
        match a.as_str() {
            "--tables" => cfg.tables = value("--tables").max(1.0) as usize,
            "--strata-tables" => cfg.strata_tables = value("--strata-tables") as usize,
            "--clients" => cfg.clients = value("--clients").max(1.0) as usize,
            "--seconds" => cfg.seconds = value("--seconds").max(0.1),
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("error: unknown argument '{other}' (try --help)");
                std::process::exit(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(report) => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
