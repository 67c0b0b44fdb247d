//! Authentication, off unless configured: static bearer tokens from the configuration, and
//! OAuth2 client credentials (`POST /v1/oauth/tokens`) that issue short-lived bearer tokens.
//!
//! Issued tokens live in this process's memory: a client that talks to several `strata
//! serve` processes should use a static token (or fetch a token from each).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

use crate::error::{CatalogError, Kind, Result};

/// Who may call the catalog.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthConfig {
    /// Bearer tokens accepted as they are.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// OAuth2 clients: id → secret.
    #[serde(default)]
    pub clients: HashMap<String, String>,
    /// Lifetime of issued tokens in seconds (default 3600).
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
}

impl AuthConfig {
    /// Authentication is on when any token or client is configured.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.clients.is_empty()
    }
}

/// Issues and checks tokens.
pub struct Authenticator {
    config: AuthConfig,
    issued: Mutex<HashMap<String, Instant>>,
}

/// A token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    #[allow(dead_code)]
    pub scope: Option<String>,
}

fn unauthorized(message: &str) -> CatalogError {
    CatalogError::new(Kind::Unauthorized, message)
}

/// Compares without stopping at the first difference, so timing does not reveal prefixes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Self {
        Authenticator {
            config,
            issued: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled()
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.config.token_ttl_secs.unwrap_or(3600))
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, header: Option<&str>) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let header = header.ok_or_else(|| unauthorized("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header is not a bearer token"))?
            .trim();
        if self.config.tokens.iter().any(|t| same(t, token)) {
            return Ok(());
        }
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        issued.retain(|_, expiry| *expiry > now);
        if issued.contains_key(token) {
            Ok(())
        } else {
            Err(unauthorized("invalid or expired bearer token"))
        }
    }

    /// Client credentials → a new token. `basic` is the decoded HTTP Basic pair, if sent.
    pub fn issue(
        &self,
        req: TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<(String, u64)> {
        if !self.enabled() {
            // Clients configured with credentials still work against an open catalog.
        }
        match req.grant_type.as_deref() {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(CatalogError::bad_request(format!(
                    "unsupported grant_type '{}': use client_credentials",
                    other.escape_debug()
                )))
            }
            None => return Err(CatalogError::bad_request("missing grant_type")),
        }
        let (id, secret) = match (req.client_id, req.client_secret, basic) {
            (Some(id), Some(secret), _) => (id, secret),
            (_, _, Some(pair)) => pair,
            _ => return Err(unauthorized("missing client_id or client_secret")),
        };
        if self.enabled() {
            let ok = self
                .config
                .clients
                .get(&id)
                .is_some_and(|expected| same(expected, &secret));
            if !ok {
                return Err(unauthorized("unknown client or wrong secret"));
            }
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let ttl = self.ttl();
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), Instant::now() + ttl);
        Ok((token, ttl.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let open = Authenticator::new(AuthConfig::default());
        open.check(None).unwrap();
        let auth = Authenticator::new(AuthConfig {
            tokens: vec!["static".into()],
            clients: [("c".to_string(), "s".to_string())].into_iter().collect(),
            token_ttl_secs: None,
        });
        assert!(auth.check(None).is_err());
        auth.check(Some("Bearer static")).unwrap();
        assert!(auth.check(Some("Bearer wrong")).is_err());
        let req = |id: &str, secret: &str| TokenRequest {
            grant_type: Some("client_credentials".into()),
            client_id: Some(id.into()),
            client_secret: Some(secret.into()),
            scope: None,
        };
        assert!(auth.issue(req("c", "bad"), None).is_err());
        let (token, _) = auth.issue(req("c", "s"), None).unwrap();
        auth.check(Some(&format!("Bearer {token}"))).unwrap();
    }
}
