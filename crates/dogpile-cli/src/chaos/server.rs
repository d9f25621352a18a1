//! The Redis a chaos run breaks: a private `redis-server` behind a fault-injecting proxy
//! (every fault), or the one at `--url` (the faults a client can cause: pauses and a memory
//! limit).

use std::time::Duration;

use dogpile_redis::redis;
use dogpile_servers::{CountingProxy, NetFault, RedisServer, Reply};

/// The password of the private server; a re-key fault rotates it and puts it back.
const PASSWORD: &str = "chaos-pw";

/// The server under test, and how to send it administrative commands. The cache reaches a
/// spawned server through the proxy; administrative commands go to the server itself.
pub enum Server {
    Spawned { server: RedisServer, proxy: CountingProxy },
    Given { client: redis::Client, shown: String },
}

impl Server {
    /// A private server, and a proxy in front of it on `runtime`.
    pub fn spawn(runtime: &tokio::runtime::Runtime) -> Result<Self, String> {
        let server = crate::target::start_private("redis-server", || RedisServer::start_with_password(PASSWORD))?;
        let proxy = runtime.block_on(CountingProxy::start(server.addr())).map_err(|e| e.to_string())?;
        Ok(Server::Spawned { server, proxy })
    }

    pub fn given(url: &str) -> Result<Self, String> {
        let shown = dogpile::config::redact_url(url);
        let client =
            redis::Client::open(url).map_err(|e| format!("{shown} is not a usable Redis URL: {:?}", e.kind()))?;
        Ok(Server::Given { client, shown })
    }

    /// The URL the cache connects with.
    pub fn url(&self) -> Option<String> {
        match self {
            Server::Spawned { proxy, .. } => Some(format!("redis://:{PASSWORD}@127.0.0.1:{}/0", proxy.port())),
            Server::Given { .. } => None,
        }
    }

    /// Where the run happens, for the report (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Server::Spawned { server, proxy } => {
                format!("a private redis-server on port {} behind a proxy on {}", server.port(), proxy.port())
            }
            Server::Given { shown, .. } => shown.clone(),
        }
    }

    pub fn is_spawned(&self) -> bool {
        matches!(self, Server::Spawned { .. })
    }

    /// Sends one command on a fresh connection: an error reply is an error.
    pub fn command(&self, args: &[&str]) -> Result<Reply, String> {
        let shown = || args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
        match self {
            Server::Spawned { server, .. } => match server.command(args) {
                Ok(Reply::Error(e)) => Err(format!("{} answered {e}", shown())),
                Ok(reply) => Ok(reply),
                Err(e) => Err(format!("{} failed: {e}", shown())),
            },
            Server::Given { client, .. } => {
                let mut conn = client
                    .get_connection_with_timeout(Duration::from_secs(2))
                    .map_err(|e| format!("cannot connect for {}: {:?}", shown(), e.kind()))?;
                let mut cmd = redis::cmd(args[0]);
                for arg in &args[1..] {
                    cmd.arg(*arg);
                }
                let value: redis::Value = cmd.query(&mut conn).map_err(|e| format!("{} failed: {e}", shown()))?;
                Ok(reply_of(value))
            }
        }
    }

    /// The value of one `CONFIG GET` parameter.
    pub fn config_get(&self, name: &str) -> Result<String, String> {
        match self.command(&["CONFIG", "GET", name])? {
            Reply::Array(Some(items)) if items.len() == 2 => {
                items[1].as_text().ok_or_else(|| format!("CONFIG GET {name}: no value"))
            }
            other => Err(format!("CONFIG GET {name} answered {other:?}")),
        }
    }

    /// SIGKILL, then a restart on the same port after `down`.
    pub fn kill_and_restart(&mut self, down: Duration) -> Result<(), String> {
        let Server::Spawned { server, .. } = self else {
            return Err("the kill fault needs --spawn".into());
        };
        server.kill();
        std::thread::sleep(down);
        server.restart().map_err(|e| e.to_string())
    }

    /// Rotates the password for `during`, dropping every client, then puts it back.
    pub fn rekey(&self, during: Duration) -> Result<(), String> {
        let Server::Spawned { server, .. } = self else {
            return Err("the rekey fault needs --spawn".into());
        };
        let rotated = format!("{PASSWORD}-rotated");
        self.command(&["CONFIG", "SET", "requirepass", &rotated])?;
        server.use_password(Some(&rotated));
        self.command(&["CLIENT", "KILL", "TYPE", "normal"])?;
        std::thread::sleep(during);
        self.command(&["CONFIG", "SET", "requirepass", PASSWORD])?;
        server.use_password(Some(PASSWORD));
        Ok(())
    }

    /// Breaks the network between the cache and the server with `fault` (`None` mends it).
    pub fn net_fault(&self, fault: Option<NetFault>) -> Result<(), String> {
        let Server::Spawned { proxy, .. } = self else {
            return Err("network faults need --spawn".into());
        };
        proxy.fault(fault);
        Ok(())
    }

    /// How many clients the server has, less the one asking.
    pub fn clients(&self) -> Result<u64, String> {
        let Reply::Bulk(Some(list)) = self.command(&["CLIENT", "LIST"])? else {
            return Err("CLIENT LIST answered no list".into());
        };
        let lines = list.split(|b| *b == b'\n').filter(|line| !line.is_empty()).count() as u64;
        Ok(lines.saturating_sub(1))
    }

    /// The keys matching `pattern` (SCAN, never KEYS: the server may be someone's).
    pub fn scan(&self, pattern: &str) -> Result<Vec<String>, String> {
        let mut cursor = "0".to_string();
        let mut found = Vec::new();
        loop {
            let reply = self.command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])?;
            let Reply::Array(Some(parts)) = reply else {
                return Err(format!("SCAN answered {reply:?}"));
            };
            let [next, Reply::Array(Some(keys))] = parts.as_slice() else {
                return Err(format!("SCAN answered {parts:?}"));
            };
            found.extend(keys.iter().filter_map(Reply::as_text));
            cursor = next.as_text().ok_or("SCAN gave no cursor")?;
            if cursor == "0" {
                return Ok(found);
            }
        }
    }
}

fn reply_of(value: redis::Value) -> Reply {
    match value {
        redis::Value::Nil => Reply::Bulk(None),
        redis::Value::Int(n) => Reply::Int(n),
        redis::Value::BulkString(bytes) => Reply::Bulk(Some(bytes)),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Reply::Array(Some(items.into_iter().map(reply_of).collect()))
        }
        redis::Value::SimpleString(s) => Reply::Status(s),
        redis::Value::Okay => Reply::Status("OK".into()),
        redis::Value::Map(pairs) => {
            Reply::Array(Some(pairs.into_iter().flat_map(|(k, v)| [reply_of(k), reply_of(v)]).collect()))
        }
        redis::Value::ServerError(err) => Reply::Error(format!("{err:?}")),
        other => Reply::Status(format!("{other:?}")),
    }
}
