//! The HTTP surface: every route and every tower layer is declared in this one file.
//!
//! Layers, outermost first: panic catching (a panic becomes an Iceberg 500, never a dropped
//! connection), tracing, request timeout, body size limit; then, on matched routes,
//! metrics (labelled by route pattern) and authentication. Routes
//! live under `/v1` or, with a configured prefix, `/v1/<prefix>`; `GET /v1/config` announces
//! the prefix and the implemented endpoints. `POST /strata/v1/publish` takes the commits of
//! Strata writers on stores without conditional PUT (`strata_format::storage::publish`).

pub mod auth;
mod handlers;
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::{error_body, CatalogError, Kind};
use crate::paths::check_name;
use crate::service::CatalogService;
use crate::types::{CatalogConfig, Properties};
use auth::{AuthConfig, Authenticator};
use metrics::Metrics;

/// Server settings (plain data; `strata serve` fills them from flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Route prefix (`/v1/<prefix>/…`), announced in `/v1/config` overrides.
    pub prefix: Option<String>,
    pub auth: AuthConfig,
    /// Longest time one request may take.
    pub request_timeout_secs: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            prefix: None,
            auth: AuthConfig::default(),
            request_timeout_secs: 60,
            max_body_bytes: 8 << 20,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<CatalogService>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    prefix: Option<String>,
}

/// Every endpoint implemented, as `/v1/config` lists them.
const ENDPOINTS: &[&str] = &[
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
    "GET /v1/{prefix}/namespaces/{namespace}/views",
    "POST /v1/{prefix}/namespaces/{namespace}/views",
    "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/views/rename",
];

impl AppState {
    fn catalog_config(&self) -> CatalogConfig {
        let mut overrides = Properties::new();
        if let Some(p) = &self.prefix {
            overrides.insert("prefix".into(), p.clone());
        }
        overrides.insert("namespace-separator".into(), "%1F".into());
        CatalogConfig {
            defaults: Properties::new(),
            overrides,
            endpoints: ENDPOINTS.iter().map(|e| e.to_string()).collect(),
        }
    }
}

/// The catalog's router over `service`.
pub fn router(service: Arc<CatalogService>, config: ServerConfig) -> Result<Router, CatalogError> {
    if let Some(p) = &config.prefix {
        check_name("prefix", p)?;
    }
    let state = AppState {
        service,
        auth: Arc::new(Authenticator::new(config.auth.clone())),
        metrics: Arc::new(Metrics::default()),
        prefix: config.prefix.clone(),
    };
    use handlers as h;
    let api = Router::new()
        .route(
            "/namespaces",
            get(h::list_namespaces).post(h::create_namespace),
        )
        .route(
            "/namespaces/{namespace}",
            get(h::load_namespace)
                .head(h::namespace_exists)
                .delete(h::drop_namespace),
        )
        .route(
            "/namespaces/{namespace}/properties",
            post(h::update_namespace_properties),
        )
        .route(
            "/namespaces/{namespace}/tables",
            get(h::list_tables).post(h::create_table),
        )
        .route("/namespaces/{namespace}/register", post(h::register_table))
        .route(
            "/namespaces/{namespace}/tables/{table}",
            get(h::load_table)
                .head(h::table_exists)
                .post(h::commit_table)
                .delete(h::drop_table),
        )
        .route(
            "/namespaces/{namespace}/tables/{table}/metrics",
            post(h::report_metrics),
        )
        .route("/tables/rename", post(h::rename_table))
        .route("/transactions/commit", post(h::commit_transaction))
        .route(
            "/namespaces/{namespace}/views",
            get(h::list_views).post(h::create_view),
        )
        .route(
            "/namespaces/{namespace}/views/{view}",
            get(h::load_view)
                .head(h::view_exists)
                .post(h::replace_view)
                .delete(h::drop_view),
        )
        .route("/views/rename", post(h::rename_view));
    let base = match &config.prefix {
        Some(p) => format!("/v1/{p}"),
        None => "/v1".to_string(),
    };
    let app = Router::new()
        .route("/v1/config", get(h::config))
        .route("/v1/oauth/tokens", post(h::token))
        .route("/metrics", get(h::metrics))
        .route(
            strata_format::storage::publish::PUBLISH_ROUTE,
            post(h::publish),
        )
        .nest(&base, api)
        .fallback(h::not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .route("/health", get(h::health))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.request_timeout_secs.max(1)),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state);
    Ok(app)
}

/// Rejects requests without a valid token when authentication is on; the token endpoint
/// itself is open (it checks the client's credentials).
async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path != "/v1/oauth/tokens" {
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(e) = state.auth.check(header) {
            return e.into_response();
        }
    }
    next.run(req).await
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(req).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(error_body(Kind::Internal, "internal error")),
    )
        .into_response()
}
