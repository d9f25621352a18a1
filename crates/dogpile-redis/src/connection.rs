//! The shared, self-reconnecting connection.

use std::fmt;
use std::time::Duration;

use dogpile::{BackendErrorKind, Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::config::RedisConfig;
use crate::error::backend_error;

/// One multiplexed connection for the whole backend, made on first use; it reconnects by
/// itself after the server went away.
pub(crate) struct Connection {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    settings: ConnectionManagerConfig,
    shown_url: String,
}

impl Connection {
    pub(crate) fn new(config: &RedisConfig) -> Result<Self> {
        let url = config.connection_url();
        let shown_url = config.redacted_url();
        let client = open_client(config, &url).map_err(|e| {
            Error::config("url", format!("{shown_url} is not a usable Redis URL: {}", describe(&e, &secrets(config))))
        })?;
        let mut settings = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_response_timeout(config.socket_timeout);
        if let Some(timeout) = config.socket_connect_timeout {
            settings = settings.set_connection_timeout(Some(timeout));
        }
        Ok(Connection { client, manager: OnceCell::new(), settings, shown_url })
    }

    /// A handle on the connection (cheap to clone), connecting first if needed.
    pub(crate) async fn get(&self) -> Result<ConnectionManager> {
        self.manager
            .get_or_try_init(|| self.client.get_connection_manager_with_config(self.settings.clone()))
            .await
            .cloned()
            .map_err(|e| match backend_error(e, None) {
                Error::Backend { kind, source, .. } => Error::Backend {
                    kind: if kind == BackendErrorKind::Other { BackendErrorKind::Connection } else { kind },
                    key: None,
                    source: format!("cannot connect to {}: {source}", self.shown_url).into(),
                },
                other => other,
            })
    }
}

#[cfg(feature = "tls")]
fn open_client(config: &RedisConfig, url: &str) -> Result<redis::Client, redis::RedisError> {
    // The process-wide crypto provider; one installed already is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match &config.tls_root_certificate {
        None => redis::Client::open(url),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "cannot read the TLS root certificate",
                    format!("{}: {e}", path.display()),
                ))
            })?;
            redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls: None, root_cert: Some(pem) })
        }
    }
}

#[cfg(not(feature = "tls"))]
fn open_client(config: &RedisConfig, url: &str) -> Result<redis::Client, redis::RedisError> {
    if url.starts_with("rediss://") || config.tls_root_certificate.is_some() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "TLS (rediss://, ssl_ca_certs) needs the `tls` feature of dogpile-redis",
        )));
    }
    redis::Client::open(url)
}

/// What must never be shown: the password, and the URL's user info.
fn secrets(config: &RedisConfig) -> Vec<String> {
    let mut secrets: Vec<String> = config.password.iter().cloned().collect();
    if let Some(url) = &config.url
        && let Some((_, rest)) = url.split_once("://")
        && let Some(at) = rest.rfind('@')
    {
        let userinfo = &rest[..at];
        secrets.push(userinfo.split_once(':').map_or(userinfo, |(_, password)| password).to_owned());
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// The error without anything from the URL: its kind, and its detail when that holds no
/// secret.
fn describe(err: &redis::RedisError, secrets: &[String]) -> String {
    match err.detail() {
        Some(detail) if !detail.contains('@') && !secrets.iter().any(|s| detail.contains(s.as_str())) => {
            format!("{:?}: {detail}", err.kind())
        }
        _ => format!("{:?}", err.kind()),
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.shown_url)
            .field("connected", &self.manager.initialized())
            .finish()
    }
}
