//! Certificates for private TLS servers: a CA and a server certificate for `127.0.0.1` and
//! `localhost`, made with the `openssl` command in a directory of their own, removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

static MADE: AtomicUsize = AtomicUsize::new(0);

/// A CA and a server certificate signed by it, valid for two days.
#[derive(Debug)]
pub struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    /// Makes the CA, the server key and its certificate.
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] when `openssl` is not installed; [`Error::Failed`] when it fails.
    pub fn make() -> Result<Self> {
        let n = MADE.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("dogpile-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
        // Removes the directory if a step fails.
        let certificates = Certificates { dir };
        let dir = &certificates.dir;
        let run = |args: &[&str]| match Command::new("openssl").args(args).current_dir(dir).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Missing {
                binary: "openssl".into(),
                hint: "install it with `apt-get install openssl` (Debian/Ubuntu)".into(),
            }),
            Err(e) => Err(Error::Io { what: "failed to run openssl".into(), source: e }),
            Ok(out) if !out.status.success() => {
                Err(Error::failed(format!("openssl {args:?}"), String::from_utf8_lossy(&out.stderr), ""))
            }
            Ok(_) => Ok(()),
        };
        let subject = |cn: &str| format!("/CN={cn}");
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            &subject("dogpile test CA"),
        ])?;
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &subject("127.0.0.1"),
        ])?;
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            .map_err(Error::io(format!("cannot write {}", dir.display())))?;
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ])?;
        Ok(certificates)
    }

    /// The CA certificate (PEM), for the client to trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// The server's private key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `redis-server` arguments that add a TLS listener on `tls_port` with these files
    /// (clients need no certificate of their own).
    pub fn server_args(&self, tls_port: u16) -> Vec<String> {
        let mut args = vec!["--tls-port".to_owned(), tls_port.to_string()];
        for (name, value) in self.config_lines() {
            args.push(format!("--{name}"));
            args.push(value);
        }
        args
    }

    /// The same settings as configuration-file lines (without the port).
    pub fn config_text(&self) -> String {
        self.config_lines().map(|(name, value)| format!("{name} \"{value}\"\n")).collect()
    }

    fn config_lines(&self) -> impl Iterator<Item = (&'static str, String)> {
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        [
            ("tls-cert-file", path(self.cert())),
            ("tls-key-file", path(self.key())),
            ("tls-ca-cert-file", path(self.ca())),
            ("tls-auth-clients", "no".to_owned()),
        ]
        .into_iter()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
