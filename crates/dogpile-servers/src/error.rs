//! The crate's error.

use std::fmt;

/// Why a server, cluster, set, proxy or certificate could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A binary is not installed; `hint` says how to install it.
    #[error("{binary} not found: {hint}")]
    Missing {
        /// The binary looked for.
        binary: String,
        /// How to install it, or which variable names another.
        hint: String,
    },
    /// A process did not come up, or did not answer as it should.
    #[error("{what}: {reason}{}", Log(log))]
    Failed {
        /// What was being done.
        what: String,
        /// What went wrong.
        reason: String,
        /// The processes' logs, empty if there are none.
        log: String,
    },
    /// The machine refused a port, a directory, a file or a process.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    pub(crate) fn failed(what: impl Into<String>, reason: impl Into<String>, log: impl Into<String>) -> Error {
        Error::Failed { what: what.into(), reason: reason.into(), log: log.into() }
    }
}

/// A log after an error's message, on lines of its own.
struct Log<'a>(&'a str);

impl fmt::Display for Log<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.is_empty() {
            true => Ok(()),
            false => write!(f, "\n{}", self.0),
        }
    }
}
