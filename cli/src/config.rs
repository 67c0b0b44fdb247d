//! Settings of the `strata` command: flags first, then environment variables, then the
//! TOML config file (`--config FILE` or `STRATA_CONFIG`), then defaults.
//!
//! ```toml
//! warehouse = "s3://lake/warehouse"
//!
//! [log]
//! level = "info"        # STRATA_LOG; a tracing filter such as "strata_format=debug"
//! format = "json"       # STRATA_LOG_FORMAT: "text" (default) or "json"
//!
//! [s3]                  # AWS_* variables override these
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! access_key_id = "minio"
//! secret_access_key = "minio123"
//! allow_http = true
//! virtual_hosted_style = false
//! conditional_put = false   # AWS_CONDITIONAL_PUT=disabled: the store ignores If-None-Match
//!
//! [commit]              # for stores without conditional PUT; strata serve ignores it
//! catalog = "http://127.0.0.1:8181"   # STRATA_COMMIT_CATALOG: the strata serve of this warehouse
//! token = "secret"                    # STRATA_COMMIT_TOKEN, when the catalog wants one
//! ```

use std::path::Path;

use serde::Deserialize;
use strata_format::{Error, Result};

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub warehouse: Option<String>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub s3: S3Config,
    #[serde(default)]
    pub commit: CommitConfig,
}

/// Where commits go when the store cannot create if absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitConfig {
    pub catalog: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub allow_http: Option<bool>,
    pub virtual_hosted_style: Option<bool>,
    /// `false` for stores that do not honour `If-None-Match: *` (commits then go through
    /// the catalog).
    pub conditional_put: Option<bool>,
}

impl ConfigFile {
    /// Reads `path`; a missing or malformed file is an error naming it.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::not_found(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text).map_err(|e| {
            Error::data_invalid(format!(
                "config file {}: {}",
                path.display(),
                e.to_string().replace('\n', " ")
            ))
        })
    }

    /// Store options for `Storage::open_with_options`. An `AWS_*` variable that is set
    /// wins over the file (the store reads those itself).
    pub fn store_options(&self) -> Vec<(String, String)> {
        let s3 = &self.s3;
        let mut out = Vec::new();
        let mut put = |key: &str, env: &[&str], value: Option<String>| {
            if env.iter().any(|e| std::env::var_os(e).is_some()) {
                return;
            }
            if let Some(v) = value {
                out.push((key.to_string(), v));
            }
        };
        put(
            "aws_endpoint",
            &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
            s3.endpoint.clone(),
        );
        put(
            "aws_region",
            &["AWS_REGION", "AWS_DEFAULT_REGION"],
            s3.region.clone(),
        );
        put(
            "aws_access_key_id",
            &["AWS_ACCESS_KEY_ID"],
            s3.access_key_id.clone(),
        );
        put(
            "aws_secret_access_key",
            &["AWS_SECRET_ACCESS_KEY"],
            s3.secret_access_key.clone(),
        );
        put(
            "aws_session_token",
            &["AWS_SESSION_TOKEN"],
            s3.session_token.clone(),
        );
        put(
            "aws_allow_http",
            &["AWS_ALLOW_HTTP"],
            s3.allow_http.map(|b| b.to_string()),
        );
        put(
            "aws_virtual_hosted_style_request",
            &["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"],
            s3.virtual_hosted_style.map(|b| b.to_string()),
        );
        put(
            "aws_conditional_put",
            &["AWS_CONDITIONAL_PUT"],
            s3.conditional_put
                .map(|b| if b { "etag" } else { "disabled" }.to_string()),
        );
        out
    }

    /// The catalog commits go through: `STRATA_COMMIT_CATALOG`, else `[commit] catalog`;
    /// with its token (`STRATA_COMMIT_TOKEN`, else `[commit] token`).
    pub fn commit_catalog(&self) -> Option<(String, Option<String>)> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let url = env("STRATA_COMMIT_CATALOG").or_else(|| self.commit.catalog.clone())?;
        let token = env("STRATA_COMMIT_TOKEN").or_else(|| self.commit.token.clone());
        Some((url, token))
    }
}

/// Starts logging to stderr: filter from `STRATA_LOG`, else the file's `log.level`, else
/// `warn`; JSON lines when `STRATA_LOG_FORMAT` (or `log.format`) is `json`.
pub fn init_logging(config: &ConfigFile) -> Result<()> {
    let filter = std::env::var("STRATA_LOG")
        .ok()
        .or_else(|| config.log.level.clone())
        .unwrap_or_else(|| "warn".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| Error::data_invalid(format!("log filter '{filter}': {e}")))?;
    let format = std::env::var("STRATA_LOG_FORMAT")
        .ok()
        .or_else(|| config.log.format.clone())
        .unwrap_or_else(|| "text".to_string());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.as_str() {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => {
            return Err(Error::data_invalid(format!(
                "log format '{other}' is not known (use text or json)"
            )))
        }
    }
    Ok(())
}
