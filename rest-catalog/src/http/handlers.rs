//! Thin handlers: extract the request, call the service, shape the response. Extraction
//! failures (bad JSON, bad path encoding, bad query) become 400s with Iceberg's error body.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::Engine;
use serde::de::DeserializeOwned;

use super::auth::TokenRequest;
use super::AppState;
use crate::error::{CatalogError, Result};
use crate::service::split_namespace;
use crate::types::{
    CatalogConfig, CommitTableRequest, CommitTransactionRequest, CommitViewRequest,
    CreateNamespaceRequest, CreateTableRequest, CreateViewRequest, ListNamespacesResponse,
    NamespaceResponse, RegisterTableRequest, RenameRequest, TokenResponse,
    UpdateNamespacePropertiesRequest,
};

/// A JSON body whose rejection is an Iceberg 400.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = CatalogError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(CatalogError::bad_request(format!(
                "malformed request body: {}",
                e.body_text().replace('\n', " ")
            ))),
        }
    }
}

/// Path parameters, percent-decoded; a bad encoding is a 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = CatalogError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(CatalogError::bad_request(format!(
                "malformed path: {}",
                e.body_text().replace('\n', " ")
            ))),
        }
    }
}

/// Query parameters as strings; a bad encoding is a 400.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = CatalogError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => Err(CatalogError::bad_request(format!(
                "malformed query: {}",
                e.body_text().replace('\n', " ")
            ))),
        }
    }
}

impl Params {
    fn page_size(&self) -> Result<Option<usize>> {
        self.0
            .get("pageSize")
            .map(|s| {
                s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    CatalogError::bad_request(format!(
                        "pageSize must be a positive integer, not '{}'",
                        s.escape_debug()
                    ))
                })
            })
            .transpose()
    }

    fn page_token(&self) -> Option<String> {
        self.0.get("pageToken").cloned()
    }

    fn flag(&self, name: &str) -> Result<bool> {
        // pyiceberg sends Python's spelling (`False`).
        match self.0.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(CatalogError::bad_request(format!(
                "{name} must be true or false, not '{}'",
                self.0
                    .get(name)
                    .map(|v| v.escape_debug().to_string())
                    .unwrap_or_default()
            ))),
        }
    }
}

type Ns = Path<String>;
type NsName = Path<(String, String)>;

pub async fn config(State(app): State<AppState>) -> axum::Json<CatalogConfig> {
    axum::Json(app.catalog_config())
}

pub async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Result<axum::Json<TokenResponse>> {
    let Form(req) = body.map_err(|e| {
        CatalogError::bad_request(format!("malformed token request: {}", e.body_text()))
    })?;
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let (access_token, expires_in) = app.auth.issue(req, basic)?;
    Ok(axum::Json(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
        issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    }))
}

pub async fn list_namespaces(
    State(app): State<AppState>,
    params: Params,
) -> Result<axum::Json<ListNamespacesResponse>> {
    let parent = params.0.get("parent").map(|p| split_namespace(p));
    let namespaces = app.service.list_namespaces(parent).await?;
    let names: Vec<String> = namespaces.iter().map(|n| n.join("\u{1f}")).collect();
    let (page, next) = crate::service::page_names(names, params.page_token(), params.page_size()?);
    Ok(axum::Json(ListNamespacesResponse {
        namespaces: page.into_iter().map(|n| split_namespace(&n)).collect(),
        next_page_token: next.flatten(),
    }))
}

pub async fn create_namespace(
    State(app): State<AppState>,
    Json(req): Json<CreateNamespaceRequest>,
) -> Result<axum::Json<NamespaceResponse>> {
    let properties = app
        .service
        .create_namespace(&req.namespace, req.properties)
        .await?;
    Ok(axum::Json(NamespaceResponse {
        namespace: req.namespace,
        properties,
    }))
}

pub async fn load_namespace(
    State(app): State<AppState>,
    Path(ns): Ns,
) -> Result<axum::Json<NamespaceResponse>> {
    let levels = split_namespace(&ns);
    let properties = app.service.load_namespace(&levels).await?;
    Ok(axum::Json(NamespaceResponse {
        namespace: levels,
        properties,
    }))
}

pub async fn namespace_exists(State(app): State<AppState>, Path(ns): Ns) -> Result<StatusCode> {
    app.service.load_namespace(&split_namespace(&ns)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn drop_namespace(State(app): State<AppState>, Path(ns): Ns) -> Result<StatusCode> {
    app.service.drop_namespace(&split_namespace(&ns)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_namespace_properties(
    State(app): State<AppState>,
    Path(ns): Ns,
    Json(req): Json<UpdateNamespacePropertiesRequest>,
) -> Result<Response> {
    let r = app
        .service
        .update_namespace_properties(&split_namespace(&ns), req.removals, req.updates)
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn list_tables(
    State(app): State<AppState>,
    Path(ns): Ns,
    params: Params,
) -> Result<Response> {
    let r = app
        .service
        .list_tables(
            &split_namespace(&ns),
            params.page_token(),
            params.page_size()?,
        )
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn create_table(
    State(app): State<AppState>,
    Path(ns): Ns,
    Json(req): Json<CreateTableRequest>,
) -> Result<Response> {
    let r = app.service.create_table(&split_namespace(&ns), req).await?;
    Ok(axum::Json(r).into_response())
}

pub async fn register_table(
    State(app): State<AppState>,
    Path(ns): Ns,
    Json(req): Json<RegisterTableRequest>,
) -> Result<Response> {
    let r = app
        .service
        .register_table(&split_namespace(&ns), req)
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn load_table(State(app): State<AppState>, Path((ns, t)): NsName) -> Result<Response> {
    let r = app.service.load_table(&split_namespace(&ns), &t).await?;
    Ok(axum::Json(r).into_response())
}

pub async fn table_exists(
    State(app): State<AppState>,
    Path((ns, t)): NsName,
) -> Result<StatusCode> {
    app.service.table_exists(&split_namespace(&ns), &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn commit_table(
    State(app): State<AppState>,
    Path((ns, t)): NsName,
    Json(req): Json<CommitTableRequest>,
) -> Result<Response> {
    let r = app
        .service
        .commit_table(&split_namespace(&ns), &t, req)
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn drop_table(
    State(app): State<AppState>,
    Path((ns, t)): NsName,
    params: Params,
) -> Result<StatusCode> {
    let purge = params.flag("purgeRequested")?;
    app.service
        .drop_table(&split_namespace(&ns), &t, purge)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn report_metrics(
    State(app): State<AppState>,
    Path((ns, t)): NsName,
    Json(_report): Json<serde_json::Value>,
) -> Result<StatusCode> {
    app.service.table_exists(&split_namespace(&ns), &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rename_table(
    State(app): State<AppState>,
    Json(req): Json<RenameRequest>,
) -> Result<StatusCode> {
    app.service.rename_table(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn commit_transaction(
    State(app): State<AppState>,
    Json(req): Json<CommitTransactionRequest>,
) -> Result<StatusCode> {
    app.service.commit_transaction(req.table_changes).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_views(
    State(app): State<AppState>,
    Path(ns): Ns,
    params: Params,
) -> Result<Response> {
    let r = app
        .service
        .list_views(
            &split_namespace(&ns),
            params.page_token(),
            params.page_size()?,
        )
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn create_view(
    State(app): State<AppState>,
    Path(ns): Ns,
    Json(req): Json<CreateViewRequest>,
) -> Result<Response> {
    let r = app.service.create_view(&split_namespace(&ns), req).await?;
    Ok(axum::Json(r).into_response())
}

pub async fn load_view(State(app): State<AppState>, Path((ns, v)): NsName) -> Result<Response> {
    let r = app.service.load_view(&split_namespace(&ns), &v).await?;
    Ok(axum::Json(r).into_response())
}

pub async fn view_exists(State(app): State<AppState>, Path((ns, v)): NsName) -> Result<StatusCode> {
    app.service.view_exists(&split_namespace(&ns), &v).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn replace_view(
    State(app): State<AppState>,
    Path((ns, v)): NsName,
    Json(req): Json<CommitViewRequest>,
) -> Result<Response> {
    let r = app
        .service
        .replace_view(&split_namespace(&ns), &v, req)
        .await?;
    Ok(axum::Json(r).into_response())
}

pub async fn drop_view(State(app): State<AppState>, Path((ns, v)): NsName) -> Result<StatusCode> {
    app.service.drop_view(&split_namespace(&ns), &v).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rename_view(
    State(app): State<AppState>,
    Json(req): Json<RenameRequest>,
) -> Result<StatusCode> {
    app.service.rename_view(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /strata/v1/publish?warehouse=URI&path=PATH`: a commit of a Strata writer on a
/// store without conditional PUT (see `strata_format::storage::publish`). 201 when the
/// object was created, 409 when it existed.
pub async fn publish(
    State(app): State<AppState>,
    params: Params,
    body: axum::body::Bytes,
) -> Result<Response> {
    let get = |name: &str| {
        params
            .0
            .get(name)
            .ok_or_else(|| CatalogError::bad_request(format!("missing query parameter '{name}'")))
    };
    let created = app
        .service
        .publish_object(get("warehouse")?, get("path")?, body)
        .await?;
    if created {
        Ok(StatusCode::CREATED.into_response())
    } else {
        Err(CatalogError::new(
            crate::error::Kind::AlreadyExists,
            format!("{} exists already", get("path")?),
        ))
    }
}

pub async fn health() -> &'static str {
    "ok"
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

pub async fn not_found() -> CatalogError {
    CatalogError::new(crate::error::Kind::NoSuchRoute, "no such route")
}
