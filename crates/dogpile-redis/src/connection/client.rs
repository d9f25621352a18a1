//! The client of each deployment: one server's (from the configuration's address, or the
//! caller's), a cluster's, or the sentinels' that name the primary; with TLS, keepalive and
//! timeouts, and errors that never show a secret. Which servers a command goes to is the
//! topology's business; this only opens the way to them.

use dogpile::{Error, Result};
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::io::tcp::TcpSettings;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo};
use tokio::sync::Mutex;

use crate::config::{Deployment, Given, RedisConfig, SentinelConfig};

// One per backend, made once: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
    /// The primary is asked of the sentinels at each (re)connection.
    Sentinel(Mutex<SentinelClient>),
    /// The caller's connection, shared: it reconnects by itself.
    Given(ConnectionManager),
}

impl Client {
    /// The client the configuration's deployment needs (connecting is left to the first use).
    pub(super) fn open(config: &RedisConfig) -> Result<Client> {
        let shown_url = config.redacted_url();
        let shown = |e: &redis::RedisError| describe(e, &config.server.secrets());
        match (&config.server.given, &config.server.deployment) {
            (Some(given), Deployment::One) => Ok(match given {
                Given::Client(client) => Client::Single((**client).clone()),
                Given::Connection(connection) => Client::Given(connection.clone()),
            }),
            (Some(_), _) => Err(Error::config(
                "client",
                "a client or connection of the caller's is for one server: not with sentinels or startup nodes",
            )),
            (None, Deployment::Sentinel(sentinel)) => open_sentinel(config, sentinel)
                .map(|c| Client::Sentinel(Mutex::new(c)))
                .map_err(|e| Error::config("sentinels", format!("{shown_url}: {}", shown(&e)))),
            (None, Deployment::Cluster(_)) => open_cluster(config).map(Client::Cluster).map_err(|e| {
                Error::config("startup_nodes", format!("{shown_url} are not usable cluster nodes: {}", shown(&e)))
            }),
            (None, Deployment::One) => open_client(config, &config.server.connection_url())
                .map(Client::Single)
                .map_err(|e| Error::config("url", format!("{shown_url} is not a usable Redis URL: {}", shown(&e)))),
        }
    }
}

/// The TCP settings of `config` over `base`: keepalive probes, if asked for.
pub(super) fn tcp_settings(config: &RedisConfig, base: TcpSettings) -> TcpSettings {
    match &config.socket.keepalive {
        Some(keepalive) => keepalive.tcp_settings(base),
        None => base,
    }
}

fn open_sentinel(config: &RedisConfig, sentinel: &SentinelConfig) -> Result<SentinelClient, redis::RedisError> {
    let addrs = sentinel.sentinels.iter().map(|(host, port)| {
        if sentinel.tls {
            ConnectionAddr::TcpTls { host: host.clone(), port: *port, insecure: false, tls_params: None }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut builder = SentinelClientBuilder::new(addrs, &sentinel.service_name, SentinelServerType::Master)?
        .set_client_to_redis_db(config.server.db);
    if config.socket.keepalive.is_some() {
        builder = builder
            .set_client_to_redis_tcp_settings(tcp_settings(config, TcpSettings::default()))
            .set_client_to_sentinel_tcp_settings(tcp_settings(config, TcpSettings::default()));
    }
    if let Some(password) = &config.server.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(username) = &config.server.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &sentinel.password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if let Some(username) = &sentinel.username {
        builder = builder.set_client_to_sentinel_username(username);
    }
    sentinel_tls(builder, config, sentinel)?.build()
}

#[cfg(feature = "tls")]
fn sentinel_tls(
    mut builder: SentinelClientBuilder,
    config: &RedisConfig,
    sentinel: &SentinelConfig,
) -> Result<SentinelClientBuilder, redis::RedisError> {
    // The process-wide crypto provider; one installed already is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if config.server.uses_tls() {
        builder = builder.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
        if let Some(path) = &config.server.tls_root_certificate {
            builder = builder.set_client_to_redis_certificates(root_certificate(path)?);
        }
    }
    if sentinel.tls {
        builder = builder.set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
        if let Some(path) = sentinel.tls_root_certificate.as_ref().or(config.server.tls_root_certificate.as_ref()) {
            builder = builder.set_client_to_sentinel_certificates(root_certificate(path)?);
        }
    }
    Ok(builder)
}

#[cfg(not(feature = "tls"))]
fn sentinel_tls(
    builder: SentinelClientBuilder,
    config: &RedisConfig,
    sentinel: &SentinelConfig,
) -> Result<SentinelClientBuilder, redis::RedisError> {
    if config.server.uses_tls() || sentinel.tls || config.server.tls_root_certificate.is_some() {
        return Err(no_tls_feature());
    }
    Ok(builder)
}

fn open_cluster(config: &RedisConfig) -> Result<ClusterClient, redis::RedisError> {
    if config.server.cluster_urls().iter().any(|u| u.starts_with("rediss://"))
        || config.server.tls
        || config.server.tls_root_certificate.is_some()
    {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "TLS to a cluster is not supported yet",
        )));
    }
    let mut builder = ClusterClient::builder(config.server.cluster_urls());
    if config.socket.keepalive.is_some() {
        builder = builder.tcp_settings(tcp_settings(config, TcpSettings::default()));
    }
    if let Some(timeout) = config.socket.timeout {
        builder = builder.response_timeout(timeout);
    }
    if let Some(timeout) = config.socket.connect_timeout {
        builder = builder.connection_timeout(timeout);
    }
    builder.build()
}

#[cfg(feature = "tls")]
pub(super) fn open_client(config: &RedisConfig, url: &str) -> Result<redis::Client, redis::RedisError> {
    // The process-wide crypto provider; one installed already is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let info = connection_info(config, url)?;
    match &config.server.tls_root_certificate {
        None => redis::Client::open(info),
        Some(path) => redis::Client::build_with_tls(info, root_certificate(path)?),
    }
}

/// The CA certificate in the PEM file at `path`, as the only root to trust.
#[cfg(feature = "tls")]
fn root_certificate(path: &std::path::Path) -> Result<redis::TlsCertificates, redis::RedisError> {
    let pem = std::fs::read(path).map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "cannot read the TLS root certificate",
            format!("{}: {e}", path.display()),
        ))
    })?;
    Ok(redis::TlsCertificates { client_tls: None, root_cert: Some(pem) })
}

#[cfg(not(feature = "tls"))]
pub(super) fn open_client(config: &RedisConfig, url: &str) -> Result<redis::Client, redis::RedisError> {
    if url.starts_with("rediss://") || config.server.tls_root_certificate.is_some() {
        return Err(no_tls_feature());
    }
    redis::Client::open(connection_info(config, url)?)
}

/// Where and how to connect for `url`, with the TCP settings of `config`.
fn connection_info(config: &RedisConfig, url: &str) -> Result<redis::ConnectionInfo, redis::RedisError> {
    let info = url.into_connection_info()?;
    let tcp = tcp_settings(config, info.tcp_settings().clone());
    Ok(info.set_tcp_settings(tcp))
}

#[cfg(not(feature = "tls"))]
fn no_tls_feature() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "TLS (rediss://, ssl, ssl_ca_certs) needs the `tls` feature of dogpile-redis",
    ))
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
