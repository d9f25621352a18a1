//! The server group: which deployment (one server, a cluster's startup nodes, a Sentinel
//! set, or a client the caller made), the credentials, TLS; and the URLs made from them,
//! with the credentials in them or hidden.

use std::fmt;
use std::path::PathBuf;

use dogpile::config::redact_url;

/// Why a feature that opens connections of its own refuses a given connection.
pub(crate) const NEEDS_A_CLIENT: &str =
    "this needs connections of its own, which a given connection cannot open: give RedisConfig::client instead";

/// Where the servers are and how to reach them.
#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) deployment: Deployment,
    pub(crate) url: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: i64,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The servers speak TLS (implied by a `rediss://` URL).
    pub(crate) tls: bool,
    pub(crate) tls_root_certificate: Option<PathBuf>,
    /// A client or connection the caller made, used instead of the address.
    pub(crate) given: Option<Given>,
}

/// How many servers, and how they are found.
#[derive(Clone, Default, PartialEq)]
pub(crate) enum Deployment {
    /// One server, at `url` or `host:port`.
    #[default]
    One,
    /// A Redis Cluster, discovered from these startup nodes (`host:port` or URLs).
    Cluster(Vec<String>),
    /// The primary the sentinels name.
    Sentinel(SentinelConfig),
}

/// What the caller gave to connect through (dogpile's `connection_pool`).
#[derive(Clone)]
pub(crate) enum Given {
    /// Connections are made from this client.
    Client(Box<redis::Client>),
    /// The backend sends its commands over this connection, shared with the caller.
    Connection(redis::aio::ConnectionManager),
}

/// Where the sentinels are, which service they watch, and their own credentials.
#[derive(Clone, PartialEq)]
pub(crate) struct SentinelConfig {
    pub(crate) sentinels: Vec<(String, u16)>,
    pub(crate) service_name: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The sentinels speak TLS.
    pub(crate) tls: bool,
    /// The CA to trust for the sentinels, when not the servers' one.
    pub(crate) tls_root_certificate: Option<PathBuf>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            deployment: Deployment::One,
            url: None,
            host: "localhost".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            tls: false,
            tls_root_certificate: None,
            given: None,
        }
    }
}

impl Server {
    /// The sentinel set, when the primary is found through one.
    pub(crate) fn sentinel(&self) -> Option<&SentinelConfig> {
        match &self.deployment {
            Deployment::Sentinel(sentinel) => Some(sentinel),
            _ => None,
        }
    }

    /// The sentinel set to change, when there is one.
    pub(crate) fn sentinel_mut(&mut self) -> Option<&mut SentinelConfig> {
        match &mut self.deployment {
            Deployment::Sentinel(sentinel) => Some(sentinel),
            _ => None,
        }
    }

    /// The URL the client connects to, credentials included (never print it; see
    /// [`Server::redacted_url`]).
    pub(crate) fn connection_url(&self) -> String {
        if let Some(url) = &self.url {
            return match url.strip_prefix("redis://") {
                Some(rest) if self.tls => format!("rediss://{rest}"),
                _ => url.clone(),
            };
        }
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}{}:{}/{}", self.userinfo(), self.host, self.port, self.db)
    }

    /// Whether the servers are reached with TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls || self.url.as_deref().is_some_and(|u| u.starts_with("rediss://"))
    }

    /// The URLs of the cluster's startup nodes, credentials included (never print them);
    /// none unless the deployment is a cluster.
    pub(crate) fn cluster_urls(&self) -> Vec<String> {
        let Deployment::Cluster(nodes) = &self.deployment else {
            return Vec::new();
        };
        let auth = self.userinfo();
        nodes
            .iter()
            .map(|node| {
                if node.starts_with("redis://") || node.starts_with("rediss://") {
                    node.clone()
                } else {
                    format!("redis://{auth}{node}")
                }
            })
            .collect()
    }

    fn userinfo(&self) -> String {
        match (&self.username, &self.password) {
            (Some(user), Some(pass)) => format!("{}:{}@", percent(user), percent(pass)),
            (None, Some(pass)) => format!(":{}@", percent(pass)),
            (Some(user), None) => format!("{}@", percent(user)),
            (None, None) => String::new(),
        }
    }

    /// The address with the password hidden (on a cluster, the startup nodes').
    pub(crate) fn redacted_url(&self) -> String {
        match &self.given {
            Some(Given::Client(client)) => {
                return format!("the given client's server ({})", client.get_connection_info().addr());
            }
            Some(Given::Connection(_)) => return "the given connection's server".to_owned(),
            None => {}
        }
        match &self.deployment {
            Deployment::Sentinel(sentinel) => {
                let nodes: Vec<String> = sentinel.sentinels.iter().map(|(h, p)| format!("{h}:{p}")).collect();
                format!("sentinel://{}/{}/{}", nodes.join(","), sentinel.service_name, self.db)
            }
            Deployment::Cluster(_) => self.cluster_urls().iter().map(|u| redact_url(u)).collect::<Vec<_>>().join(","),
            Deployment::One => redact_url(&self.connection_url()),
        }
    }

    /// What must never be shown: the passwords, and the URLs' user info.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self.password.iter().cloned().collect();
        secrets.extend(self.sentinel().and_then(|s| s.password.clone()));
        let nodes = match &self.deployment {
            Deployment::Cluster(nodes) => nodes.as_slice(),
            _ => &[],
        };
        for url in self.url.iter().chain(nodes) {
            if let Some((_, rest)) = url.split_once("://")
                && let Some(at) = rest.rfind('@')
            {
                let userinfo = &rest[..at];
                secrets.push(userinfo.split_once(':').map_or(userinfo, |(_, password)| password).to_owned());
            }
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Server {
            deployment,
            url: _,
            host: _,
            port: _,
            db: _,
            username,
            password,
            tls,
            tls_root_certificate,
            given,
        } = self;
        let mut out = f.debug_struct("Server");
        out.field(if matches!(deployment, Deployment::Cluster(_)) { "cluster" } else { "url" }, &self.redacted_url());
        if let Deployment::Sentinel(sentinel) = deployment {
            out.field("sentinel", sentinel);
        }
        out.field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("tls", tls)
            .field("tls_root_certificate", tls_root_certificate)
            .field(
                "given",
                &given.as_ref().map(|g| match g {
                    Given::Client(_) => "a client",
                    Given::Connection(_) => "a connection",
                }),
            )
            .finish()
    }
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SentinelConfig { sentinels, service_name, username, password, tls, tls_root_certificate } = self;
        f.debug_struct("Sentinel")
            .field("sentinels", sentinels)
            .field("service_name", service_name)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("tls", tls)
            .field("tls_root_certificate", tls_root_certificate)
            .finish()
    }
}
