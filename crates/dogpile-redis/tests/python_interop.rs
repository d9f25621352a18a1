//! Mixed Python/Rust fleets, proven against the real Python packages from PyPI: for every
//! Python setup, a Python process (dogpile.cache 1.5.0 with plugin 0.5.0, or dogpile.cache
//! 0.9.2, with plugin 0.4.1 or alone; or dogpile.cache 1.5.0 on this repository's wheel) and a Rust region share one redis-server, and each reads, creates
//! and locks what the other writes.
//!
//! The environments come from `scripts/python-envs` (run by `scripts/test`); a missing one
//! fails every test here with that command.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dogpile::codec::{DecodeErrorPolicy, Value};
use dogpile::config::{Arguments, ConfigValue};
use dogpile::{CacheKey, MockClock, Region};
use dogpile_testing::RedisServer;
use dogpile_testing::python::{PythonEnv, PythonRegion, from_spec, listed, to_spec};
use dogpile_testing::server::Reply;
use serde_json::{Value as Json, json};

const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/driver.py");

/// A Python deployment and the Rust configuration that shares its cache (the README's table).
struct Setup {
    /// The driver's name for the Python configuration.
    name: &'static str,
    env: PythonEnv,
    /// The Rust backend name and the arguments beside `url` and the lock settings.
    backend: &'static str,
    args: &'static [(&'static str, &'static str)],
    /// Python can write hash keys `(name, field)` in this setup.
    hash_keys: bool,
    /// The entries keep their creation time (not a raw envelope).
    keeps_ct: bool,
    lock_prefix: &'static str,
    /// Python's lock is dogpile-rs's token lock (the wheel), with its TTL; redis-py's has none.
    python_lock_ttl: bool,
    /// Both sides share a Valkey 9 server rather than a Redis one.
    on_valkey: bool,
}

const DOGPILE1_PICKLE: Setup = Setup {
    name: "dogpile1-pickle",
    env: PythonEnv::Dogpile1,
    backend: "dogpile.cache.redis",
    args: &[],
    hash_keys: false,
    keeps_ct: true,
    lock_prefix: "_lock",
    python_lock_ttl: false,
    on_valkey: false,
};
const DOGPILE1_MSGPACK: Setup =
    Setup { name: "dogpile1-msgpack", args: &[("serializer", "msgpack")], ..DOGPILE1_PICKLE };
const DOGPILE1_JSON: Setup = Setup { name: "dogpile1-json", args: &[("serializer", "json")], ..DOGPILE1_PICKLE };
const SEED05_HSTORE: Setup = Setup {
    name: "seed05-hstore",
    env: PythonEnv::Dogpile1,
    backend: "dogpile_backend_redis_advanced.hstore",
    // As the Python side: without a Redis TTL the plugin deletes every hash it writes.
    args: &[("redis_expiration_time", "3600")],
    hash_keys: true,
    keeps_ct: true,
    lock_prefix: "_lok.",
    python_lock_ttl: false,
    on_valkey: false,
};
const SEED05_RAW: Setup = Setup {
    name: "seed05-raw",
    env: PythonEnv::Dogpile1,
    backend: "dogpile_backend_redis_advanced.already_serialized",
    args: &[("redis_expiration_time", "60")],
    hash_keys: false,
    keeps_ct: false,
    lock_prefix: "_lok.",
    python_lock_ttl: false,
    on_valkey: false,
};
const SEED05_PICKLE_INT_TIME: Setup = Setup {
    name: "seed05-pickle-int-time",
    backend: "dogpile_backend_redis_advanced",
    args: &[("compat", "seed-0.5"), ("envelope", "seed")],
    keeps_ct: true,
    ..SEED05_RAW
};
const SEED05_PICKLE_NO_META: Setup = Setup {
    name: "seed05-pickle-no-meta",
    backend: "dogpile_backend_redis_advanced",
    args: &[("compat", "seed-0.5"), ("envelope", "raw")],
    ..SEED05_RAW
};
const DOGPILE09_PICKLE: Setup = Setup {
    name: "dogpile09-pickle",
    env: PythonEnv::Dogpile09,
    backend: "dogpile_backend_redis_advanced",
    args: &[("compat", "dogpile-0.9")],
    hash_keys: false,
    keeps_ct: true,
    lock_prefix: "_lock",
    python_lock_ttl: false,
    on_valkey: false,
};
const SEED04_PICKLE: Setup = Setup {
    name: "seed04-pickle",
    env: PythonEnv::Dogpile09,
    backend: "dogpile_backend_redis_advanced_hstore",
    args: &[("compat", "seed-0.4"), ("redis_expiration_time", "3600")],
    hash_keys: true,
    keeps_ct: true,
    lock_prefix: "_lock",
    python_lock_ttl: false,
    on_valkey: false,
};
const SEED04_MSGPACK: Setup = Setup {
    name: "seed04-msgpack",
    args: &[("compat", "seed-0.4"), ("serializer", "msgpack"), ("redis_expiration_time", "3600")],
    ..SEED04_PICKLE
};
const SEED04_RAW: Setup = Setup {
    name: "seed04-raw",
    args: &[("compat", "seed-0.4"), ("serializer", "msgpack"), ("envelope", "raw"), ("redis_expiration_time", "60")],
    keeps_ct: false,
    ..SEED04_PICKLE
};

/// dogpile.cache 1.5.0 on this repository's wheel, pickle (the region's default serializer).
const WHEEL_PICKLE: Setup =
    Setup { name: "wheel-pickle", env: PythonEnv::Wheel, python_lock_ttl: true, ..DOGPILE1_PICKLE };
/// dogpile.cache 1.5.0 on the wheel's hstore backend, msgpack.
const WHEEL_HSTORE_MSGPACK: Setup = Setup {
    name: "wheel-hstore-msgpack",
    env: PythonEnv::Wheel,
    backend: "redis_advanced_hstore",
    args: &[("compat", "dogpile-1"), ("serializer", "msgpack"), ("redis_expiration_time", "3600")],
    hash_keys: true,
    python_lock_ttl: true,
    ..DOGPILE1_PICKLE
};

/// dogpile.cache 1.5.0's `dogpile.cache.valkey` (valkey-py) on a Valkey 9 server, pickle.
const VALKEY_PICKLE: Setup = Setup {
    name: "valkey-pickle",
    env: PythonEnv::Valkey,
    backend: "dogpile.cache.valkey",
    on_valkey: true,
    ..DOGPILE1_PICKLE
};
/// The same with msgpack and a server TTL, given in dogpile.cache's Valkey spelling on both
/// sides.
const VALKEY_MSGPACK: Setup = Setup {
    name: "valkey-msgpack",
    args: &[("serializer", "msgpack"), ("valkey_expiration_time", "3600")],
    ..VALKEY_PICKLE
};

/// A Python process and a Rust region of one setup on a private redis-server.
struct Pair {
    setup: &'static Setup,
    py: PythonRegion,
    rust: Region,
    server: RedisServer,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

fn rust_region(setup: &Setup, server: &RedisServer, extra: &[(&str, &str)], clock: Option<MockClock>) -> Region {
    rust_region_with(setup, server, extra, clock, |builder| builder)
}

fn rust_region_with(
    setup: &Setup,
    server: &RedisServer,
    extra: &[(&str, &str)],
    clock: Option<MockClock>,
    configure: impl FnOnce(dogpile::RegionBuilder) -> dogpile::RegionBuilder,
) -> Region {
    dogpile_redis::register();
    let mut args = Arguments::new().with("url", server.url()).with("distributed_lock", true).with("lock_sleep", 0.01);
    for (key, value) in setup.args.iter().chain(extra) {
        args.insert(*key, ConfigValue::coerce(value));
    }
    let builder = Region::builder().configure(setup.backend, args).on_decode_error(DecodeErrorPolicy::Error);
    let builder = match clock {
        Some(clock) => builder.clock(clock),
        None => builder,
    };
    configure(builder).build().unwrap_or_else(|e| panic!("{}: {e}", setup.name))
}

impl Pair {
    fn start(setup: &'static Setup) -> Self {
        let server = if setup.on_valkey { RedisServer::start_valkey() } else { RedisServer::start() };
        let py = PythonRegion::start(setup.env, DRIVER.as_ref(), setup.name, &server.url());
        let rust = rust_region(setup, &server, &[], None);
        Pair { setup, py, rust, server }
    }

    fn key_json(key: &CacheKey) -> Json {
        match key {
            CacheKey::Hash { name, field } => json!([name, field]),
            other => json!(other.to_string()),
        }
    }

    fn keys(&self, prefix: &str, label: &str) -> Vec<CacheKey> {
        let mut keys = vec![CacheKey::from(format!("{prefix}:{label}"))];
        if self.setup.hash_keys {
            keys.push(CacheKey::hash(format!("{prefix}:h"), label));
        }
        keys
    }

    fn py_set(&mut self, key: &CacheKey, value: &Value) -> Json {
        self.py.call(json!({"op": "set", "key": Pair::key_json(key), "value": to_spec(value)}))
    }

    fn py_set_at(&mut self, key: &CacheKey, value: &Value, ct: f64) {
        let answer = self.py.call(json!({"op": "set", "key": Pair::key_json(key), "value": to_spec(value), "ct": ct}));
        assert_eq!(answer["ok"], true, "{}: {answer}", self.setup.name);
    }

    fn py_get(&mut self, key: &CacheKey) -> Json {
        self.py.call(json!({"op": "get", "key": Pair::key_json(key)}))
    }

    fn counter(&self, name: &str) -> i64 {
        match self.server.must(&["GET", name]) {
            Reply::Bulk(None) => 0,
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).parse().unwrap_or(-1),
            other => self.server.fail(&format!("GET {name}: {other:?}")),
        }
    }
}

fn py_value(answer: &Json) -> Option<Value> {
    answer.get("value").map(from_spec)
}

/// The values each side writes for the other: the issue's matrix.
fn matrix() -> Vec<(&'static str, Value)> {
    vec![
        ("int", Value::Int(1)),
        ("str", Value::from("hello")),
        ("float", Value::Float(1.5)),
        ("bool", Value::Bool(true)),
        ("none", Value::None),
        ("list", Value::List(vec![Value::from(1), Value::from(2), Value::from(3)])),
        ("tuple", Value::Tuple(vec![Value::from("a"), Value::from(2)])),
        ("dict", Value::Dict(vec![(Value::from("a"), Value::from(1)), (Value::from("b"), Value::from("two"))])),
        (
            "nested",
            Value::Dict(vec![
                (
                    Value::from("a"),
                    Value::List(vec![
                        Value::from(1),
                        Value::Dict(vec![(Value::from("b"), Value::List(vec![Value::Bool(false), Value::None]))]),
                    ]),
                ),
                (Value::from("c"), Value::Dict(vec![(Value::from("d"), Value::Float(-2.25))])),
            ]),
        ),
        ("bytes", Value::Bytes(b"\x00\xffbin".to_vec())),
        ("unicode", Value::from("héllo ✓ 日本 🎉")),
        ("i64_max", Value::Int(i64::MAX.into())),
        ("u64_max", Value::Int(u64::MAX.into())),
    ]
}

/// Each value of the matrix, both ways, plain and hash keys: the other side reads the same
/// value and type, or both sides refuse it; never a wrong value.
async fn value_matrix(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    let mut failures = Vec::new();
    for (label, value) in matrix() {
        // Python writes, Rust reads what Python itself reads back.
        for key in pair.keys("p", label) {
            let written = pair.py_set(&key, &value);
            let rust_read = pair.rust.get::<Value>(key.clone()).await;
            if written.get("error").is_some() {
                eprintln!("{}: {label}: Python refuses {written}", setup.name);
                if pair.rust.set(CacheKey::from("refused"), &value).await.is_ok() {
                    failures.push(format!("{label} {key}: Python refuses to write it ({written}), Rust writes it"));
                }
                continue;
            }
            let python_read = pair.py_get(&key);
            match (py_value(&python_read), rust_read) {
                (Some(expected), Ok(Some(got))) if listed(&got) == listed(&expected) => {}
                (Some(expected), other) => {
                    failures.push(format!("{label} {key}: Python wrote {expected:?}, Rust read {other:?}"))
                }
                _ if python_read.get("miss").is_some() => {
                    failures.push(format!("{label} {key}: Python lost its own write (a broken setup)"))
                }
                // Python cannot read back what it wrote (the raw proxy's bool): no value in Rust either.
                (None, Ok(None) | Err(_)) => {}
                (None, Ok(Some(got))) => {
                    failures.push(format!("{label} {key}: Python cannot read it ({python_read}), Rust read {got:?}"))
                }
            }
        }
        // Rust writes, Python reads it as it reads its own write of the same value.
        for key in pair.keys("r", label) {
            let written = pair.rust.set(key.clone(), &value).await;
            let own = pair.py.call(json!({"op": "roundtrip", "value": to_spec(&value)}));
            let python_read = pair.py_get(&key);
            if own.get("miss").is_some() {
                failures.push(format!("{label}: Python lost its own write (a broken setup)"));
            }
            match (written, py_value(&own)) {
                (Err(err), None) => eprintln!("{}: {label}: both refuse ({err}; {own})", setup.name),
                (Err(err), Some(own)) => {
                    failures.push(format!("{label} {key}: Python round-trips {own:?}, Rust refuses: {err}"))
                }
                (Ok(()), Some(own)) => {
                    if python_read.get("value") != Some(&to_spec(&own)) {
                        failures
                            .push(format!("{label} {key}: Python reads {python_read} where it reads its own {own:?}"));
                    }
                }
                (Ok(()), None) => {
                    if python_read.get("value").is_some() {
                        failures.push(format!(
                            "{label} {key}: Python cannot round-trip it ({own}), yet reads {python_read}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}:\n{}", setup.name, failures.join("\n"));
}

/// A fresh value from the other side is returned without running the creator; an old one
/// (by the other side's creation time) is regenerated. Raw entries carry no creation time:
/// they are fresh until Redis expires them.
async fn get_or_create_across(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    let runs = Arc::new(AtomicUsize::new(0));
    let creator = |runs: &Arc<AtomicUsize>| {
        let runs = Arc::clone(runs);
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Value::from("rust-new"))
        }
    };
    let rust_goc = |region: &Region, key: CacheKey, runs: &Arc<AtomicUsize>| {
        let options = dogpile::region::CreateOptions::new().expiration_time(Duration::from_secs(60));
        let (region, creator) = (region.clone(), creator(runs));
        async move { region.get_or_create_with(key, &options, creator).await.unwrap() }
    };
    let py_goc = |pair: &mut Pair, key: &CacheKey, counter: &str| {
        let answer = pair.py.call(json!({
            "op": "get_or_create", "key": Pair::key_json(key), "expiration_time": 60,
            "value": to_spec(&Value::from("py-new")), "counter": counter,
        }));
        py_value(&answer).unwrap_or_else(|| panic!("{}: {answer}", setup.name))
    };
    let old = dogpile::MockClock::new(now() - 120.0);
    let old_rust = rust_region(setup, &pair.server, &[], Some(old));
    let mut keys = vec![CacheKey::from("goc")];
    if setup.hash_keys {
        keys.push(CacheKey::hash("goc:h", "f"));
    }
    for (i, base) in keys.iter().enumerate() {
        let key = |what: &str| match base {
            CacheKey::Hash { name, field } => CacheKey::hash(name.clone(), format!("{field}:{what}")),
            other => CacheKey::from(format!("{other}:{what}")),
        };
        // Python wrote it just now: Rust returns it.
        pair.py_set_at(&key("p-fresh"), &Value::from("py-fresh"), now());
        let got = rust_goc(&pair.rust, key("p-fresh"), &runs).await;
        assert_eq!((got, runs.load(Ordering::SeqCst)), (Value::from("py-fresh"), 0), "{}", setup.name);
        // Python wrote it two minutes ago: Rust regenerates it (raw: Redis's TTL decides).
        pair.py_set_at(&key("p-old"), &Value::from("py-old"), now() - 120.0);
        let got = rust_goc(&pair.rust, key("p-old"), &runs).await;
        if setup.keeps_ct {
            assert_eq!((got, runs.load(Ordering::SeqCst)), (Value::from("rust-new"), 1), "{}", setup.name);
        } else {
            assert_eq!((got, runs.load(Ordering::SeqCst)), (Value::from("py-old"), 0), "{}", setup.name);
        }
        runs.store(0, Ordering::SeqCst);
        // Rust wrote it just now: Python returns it without running its creator.
        let counter = format!("goc:runs:{i}");
        pair.rust.set(key("r-fresh"), &Value::from("rust-fresh")).await.unwrap();
        assert_eq!(py_goc(&mut pair, &key("r-fresh"), &counter), Value::from("rust-fresh"), "{}", setup.name);
        assert_eq!(pair.counter(&counter), 0, "{}: Python ran its creator on a fresh Rust value", setup.name);
        // Rust wrote it two minutes ago: Python regenerates it.
        old_rust.set(key("r-old"), &Value::from("rust-old")).await.unwrap();
        let got = py_goc(&mut pair, &key("r-old"), &counter);
        if setup.keeps_ct {
            assert_eq!((got, pair.counter(&counter)), (Value::from("py-new"), 1), "{}", setup.name);
        } else {
            assert_eq!((got, pair.counter(&counter)), (Value::from("rust-old"), 0), "{}", setup.name);
        }
    }
}

/// Under early refresh Rust adds the creation duration (`d`) to the metadata of the envelopes
/// that keep metadata; Python still reads the entry, and its `get_or_create` still honours the
/// entry's creation time (no creator run on a fresh value).
async fn creation_duration_is_ignored_by_python(setup: &'static Setup) {
    use dogpile::codec::Envelope;
    use dogpile::region::{CreateOptions, EarlyRefresh};

    let mut pair = Pair::start(setup);
    let region =
        rust_region_with(setup, &pair.server, &[], None, |builder| builder.early_refresh(EarlyRefresh::new(1.0)));
    let keeps_metadata = matches!(region.codec().envelope(), Envelope::Dogpile1 | Envelope::Seed);
    for (i, key) in pair.keys("timed", "k").into_iter().enumerate() {
        let made: Value = region
            .get_or_create_in_background(key.clone(), &CreateOptions::new(), || async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, std::io::Error>(Value::from("timed"))
            })
            .await
            .unwrap();
        assert_eq!(made, Value::from("timed"));
        let metadata = region.get_value_metadata::<Value>(key.clone()).await.unwrap().unwrap().metadata;
        assert_eq!(metadata.d.is_some(), keeps_metadata, "{}: {metadata:?}", setup.name);
        if let Some(d) = metadata.d {
            assert!((0.004..5.0).contains(&d), "{}: d = {d}", setup.name);
        }
        let answer = pair.py_get(&key);
        assert_eq!(py_value(&answer), Some(Value::from("timed")), "{}: {answer}", setup.name);
        let counter = format!("timed:runs:{i}");
        let answer = pair.py.call(json!({
            "op": "get_or_create", "key": Pair::key_json(&key), "expiration_time": 60,
            "value": to_spec(&Value::from("py-new")), "counter": counter,
        }));
        assert_eq!(py_value(&answer), Some(Value::from("timed")), "{}: {answer}", setup.name);
        assert_eq!(pair.counter(&counter), 0, "{}: Python ran its creator on a fresh Rust value", setup.name);
    }
}

/// Tags sit in the metadata, where Python dogpile does not look: it reads a tagged value as any
/// other, keeps it fresh, and (not knowing tags) still reads it after a tag invalidation that
/// makes it a miss in Rust.
async fn tags_are_ignored_by_python(setup: &'static Setup) {
    use dogpile::region::SetOptions;

    let mut pair = Pair::start(setup);
    if !pair.rust.codec().envelope().keeps_metadata() {
        return;
    }
    for (i, key) in pair.keys("tagged", "k").into_iter().enumerate() {
        pair.rust
            .set_with(key.clone(), &Value::from("tagged"), SetOptions::new().tags(["user:42", "team:7"]))
            .await
            .unwrap();
        let metadata = pair.rust.get_value_metadata::<Value>(key.clone()).await.unwrap().unwrap().metadata;
        assert_eq!(metadata.tags, ["user:42", "team:7"], "{}", setup.name);
        assert_eq!(py_value(&pair.py_get(&key)), Some(Value::from("tagged")), "{}", setup.name);
        let counter = format!("tagged:runs:{i}");
        let answer = pair.py.call(json!({
            "op": "get_or_create", "key": Pair::key_json(&key), "expiration_time": 60,
            "value": to_spec(&Value::from("py-new")), "counter": counter,
        }));
        assert_eq!(py_value(&answer), Some(Value::from("tagged")), "{}: {answer}", setup.name);
        assert_eq!(pair.counter(&counter), 0, "{}: Python ran its creator on a fresh tagged value", setup.name);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    pair.rust.invalidate_tags(["user:42"], true).await.unwrap();
    for key in pair.keys("tagged", "k") {
        assert_eq!(pair.rust.get::<Value>(key.clone()).await.unwrap(), None, "{}", setup.name);
        assert_eq!(py_value(&pair.py_get(&key)), Some(Value::from("tagged")), "{}: Python knows no tags", setup.name);
    }
}

/// `get_multi` over plain and hash keys (duplicates included) written by the other side's
/// `set_multi`.
async fn get_multi_across(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    for (writer, prefix) in [("python", "mp"), ("rust", "mr")] {
        let mut items: Vec<(CacheKey, Value)> =
            (0..3).map(|i| (CacheKey::from(format!("{prefix}:{i}")), Value::from(format!("plain {i}")))).collect();
        items.push((CacheKey::from(format!("{prefix}:n")), Value::Int(42)));
        if setup.hash_keys {
            for (name, field) in [("a", "x"), ("a", "y"), ("b", "x")] {
                let key = CacheKey::hash(format!("{prefix}:{name}"), field);
                items.insert(1, (key, Value::from(format!("{name}.{field}"))));
            }
        }
        let mut keys: Vec<CacheKey> = items.iter().rev().map(|(k, _)| k.clone()).collect();
        keys.push(items[0].0.clone());
        keys.push(CacheKey::from(format!("{prefix}:absent")));
        let expected: Vec<Option<Value>> =
            keys.iter().map(|k| items.iter().find(|(i, _)| i == k).map(|(_, v)| v.clone())).collect();
        let got = if writer == "python" {
            let wire: Vec<Json> = items.iter().map(|(k, v)| json!([Pair::key_json(k), to_spec(v)])).collect();
            let answer = pair.py.call(json!({"op": "set_multi", "items": wire}));
            assert_eq!(answer["ok"], true, "{}: {answer}", setup.name);
            pair.rust.get_multi::<Value, _>(keys.clone()).await.unwrap()
        } else {
            pair.rust.set_multi(items.clone()).await.unwrap();
            let answer =
                pair.py.call(json!({"op": "get_multi", "keys": keys.iter().map(Pair::key_json).collect::<Vec<_>>()}));
            let values = answer["values"].as_array().unwrap_or_else(|| panic!("{}: {answer}", setup.name));
            values.iter().map(|v| (!v.is_null()).then(|| from_spec(v))).collect()
        };
        assert_eq!(got, expected, "{}: written by {writer}", setup.name);
    }
}

/// A Python process and a Rust region call `get_or_create` on the same missing (or expired)
/// key at the same instant, round after round, each side first in turn: the creator runs once
/// per round across both, and both return its value (or, for an expired key, the stale one).
async fn one_creator_across_processes(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    let mut failures = Vec::new();
    for round in 0..8 {
        let key = CacheKey::from(format!("race:{round}"));
        let counter = format!("race:runs:{round}");
        let expired = setup.keeps_ct && round % 2 == 1;
        if expired {
            pair.py_set_at(&key, &Value::from("stale"), now() - 120.0);
        }
        let request = json!({
            "op": "get_or_create", "key": key.to_string(), "expiration_time": 60,
            "value": to_spec(&Value::from("made by python")), "counter": counter, "sleep": 0.3,
        });
        let (counter_ref, server) = (&counter, &pair.server);
        let rust = async {
            let options = dogpile::region::CreateOptions::new().expiration_time(Duration::from_secs(60));
            pair.rust
                .get_or_create_with(key.clone(), &options, || async move {
                    server.must(&["INCR", counter_ref]);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>(Value::from("made by rust"))
                })
                .await
                .unwrap()
        };
        let python_first = round % 4 >= 2;
        let py = &mut pair.py;
        let rust_value = if python_first {
            py.send(&request);
            tokio::time::sleep(Duration::from_millis(20)).await;
            rust.await
        } else {
            let (value, ()) = tokio::join!(rust, async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                py.send(&request);
            });
            value
        };
        let answer = py.recv();
        let py_value = py_value(&answer).unwrap_or_else(|| panic!("{}: {answer}", setup.name));
        let runs = pair.counter(&counter);
        let made = [Value::from("made by rust"), Value::from("made by python")];
        let ok_value = |v: &Value| made.contains(v) || (expired && *v == Value::from("stale"));
        if runs != 1 || !ok_value(&rust_value) || !ok_value(&py_value) || (!expired && rust_value != py_value) {
            failures.push(format!(
                "round {round} (expired: {expired}, python first: {python_first}): {runs} creator runs, rust got {rust_value:?}, python got {py_value:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}:\n{}", setup.name, failures.join("\n"));
}

fn exists(server: &RedisServer, key: &str) -> bool {
    server.must(&["EXISTS", key]) == Reply::Int(1)
}

/// Each side's lock excludes the other, and neither releases nor extends a lock it does not
/// hold: a held Python lock keeps its token and its (absent) TTL, a Rust release after its lock
/// expired and Python took it leaves Python's lock, and a Python release after Rust took over
/// leaves Rust's.
async fn locks_are_shared_and_never_taken_from_the_holder(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    let lock = |key: &str| format!("{}{key}", setup.lock_prefix);

    // Python holds the lock of "held".
    if setup.keeps_ct {
        pair.py_set_at(&CacheKey::from("held"), &Value::from("stale"), now() - 120.0);
    }
    let answer = pair.py.call(json!({"op": "lock_acquire", "key": "held"}));
    assert_eq!(answer["acquired"], true, "{}: {answer}", setup.name);
    assert!(exists(&pair.server, &lock("held")), "{}: Python's lock is named {}", setup.name, lock("held"));
    let token = pair.server.must(&["GET", &lock("held")]);
    let mutex = pair.rust.backend().get_mutex(&CacheKey::from("held")).expect("a distributed lock");
    assert!(!mutex.acquire(false).await.unwrap(), "{}: Rust took a lock Python holds", setup.name);
    assert!(pair.rust.key_is_locked("held").await.unwrap());
    if setup.keeps_ct {
        let options = dogpile::region::CreateOptions::new().expiration_time(Duration::from_secs(60));
        let got = pair
            .rust
            .get_or_create_with("held", &options, || async { Ok::<_, std::io::Error>(Value::from("created")) })
            .await
            .unwrap();
        assert_eq!(got, Value::from("stale"), "{}: Python is regenerating, Rust serves the stale value", setup.name);
    }
    mutex.release().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pair.server.must(&["GET", &lock("held")]), token, "{}: Rust released Python's lock", setup.name);
    let ttl = pair.server.must(&["PTTL", &lock("held")]);
    match setup.python_lock_ttl {
        true => assert!(matches!(ttl, Reply::Int(ms) if ms > 0), "{}: Python's lock lost its TTL: {ttl:?}", setup.name),
        false => assert_eq!(ttl, Reply::Int(-1), "{}: Rust changed Python's lock TTL", setup.name),
    }
    let answer = pair.py.call(json!({"op": "lock_release", "key": "held"}));
    assert_eq!(answer["ok"], true, "{}: {answer}", setup.name);
    assert!(!exists(&pair.server, &lock("held")));

    // Rust's lock expired while it held it, and Python took it: Rust's release leaves it.
    let short = rust_region(setup, &pair.server, &[("lock_timeout", "0.3"), ("lock_extend", "false")], None);
    let mutex = short.backend().get_mutex(&CacheKey::from("rust-expired")).expect("a distributed lock");
    assert!(mutex.acquire(true).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = pair.py.call(json!({"op": "lock_acquire", "key": "rust-expired"}));
    assert_eq!(answer["acquired"], true, "{}: {answer}", setup.name);
    let _ = mutex.release().await;
    let answer = pair.py.call(json!({"op": "lock_owned", "key": "rust-expired"}));
    assert_eq!(answer["owned"], true, "{}: Rust released the lock Python holds: {answer}", setup.name);
    assert_eq!(pair.py.call(json!({"op": "lock_release", "key": "rust-expired"}))["ok"], true);

    // Python's lock expired (its TTL set here), and Rust took it: Python's release leaves it.
    let answer = pair.py.call(json!({"op": "lock_acquire", "key": "py-expired"}));
    assert_eq!(answer["acquired"], true, "{}: {answer}", setup.name);
    pair.server.must(&["PEXPIRE", &lock("py-expired"), "100"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mutex = pair.rust.backend().get_mutex(&CacheKey::from("py-expired")).expect("a distributed lock");
    assert!(mutex.acquire(false).await.unwrap(), "{}: Rust could not take an expired lock", setup.name);
    let answer = pair.py.call(json!({"op": "lock_release", "key": "py-expired"}));
    assert!(answer.get("error").is_some(), "{}: Python released a lock it no longer holds: {answer}", setup.name);
    assert!(exists(&pair.server, &lock("py-expired")), "{}: Python's release removed Rust's lock", setup.name);
    assert!(mutex.locked().await.unwrap());
    mutex.release().await.unwrap();
    assert!(!exists(&pair.server, &lock("py-expired")));
}

/// The same function and arguments give the same key on both sides, so each side's cached
/// result serves the other without running the function.
async fn function_keys_match(setup: &'static Setup) {
    let mut pair = Pair::start(setup);
    let runs = Arc::new(AtomicUsize::new(0));
    let runs_in = Arc::clone(&runs);
    let compute = pair.rust.cache_on_arguments("interop:compute", move |args: (bool, f64, Option<i64>, &str)| {
        let runs = Arc::clone(&runs_in);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(format!("rust:{args:?}"))
        }
    });
    let cases: [(bool, f64, Option<i64>, &str); 4] = [
        (true, 1.0, None, "a"),
        (false, 1e20, Some(7), "x y"),
        (true, -0.5, Some(-3), "ünï"),
        (false, 1e-5, None, "1.5e-07"),
    ];
    for (i, args) in cases.into_iter().enumerate() {
        let spec = json!([
            to_spec(&Value::Bool(args.0)),
            to_spec(&Value::Float(args.1)),
            args.2.map_or(to_spec(&Value::None), |n| to_spec(&Value::from(n))),
            to_spec(&Value::from(args.3)),
        ]);
        if i % 2 == 0 {
            // Python first: Rust gets Python's result.
            let answer = pair.py.call(json!({"op": "fn_call", "args": spec}));
            assert_eq!(answer["key"], compute.key(&args).to_string(), "{}: {args:?}", setup.name);
            let python_result = answer["value"][1].as_str().unwrap_or_default().to_owned();
            assert_eq!(compute.call(args).await.unwrap(), python_result, "{}", setup.name);
            assert_eq!(runs.load(Ordering::SeqCst), 0, "{}: Rust ran the function Python cached", setup.name);
        } else {
            // Rust first: Python gets Rust's result.
            let rust_result = compute.call(args).await.unwrap();
            let runs_before = pair.counter("fn:runs");
            let answer = pair.py.call(json!({"op": "fn_call", "args": spec}));
            assert_eq!(answer["key"], compute.key(&args).to_string(), "{}: {args:?}", setup.name);
            assert_eq!(answer["value"], to_spec(&Value::from(rust_result)), "{}", setup.name);
            assert_eq!(pair.counter("fn:runs"), runs_before, "{}: Python ran the function Rust cached", setup.name);
            runs.store(0, Ordering::SeqCst);
        }
    }
}

macro_rules! interop {
    ($($module:ident => $setup:ident),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn value_matrix_both_ways() {
                value_matrix(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_or_create_honours_the_other_sides_values() {
                get_or_create_across(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_multi_reads_the_other_sides_set_multi() {
                get_multi_across(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stampede_one_creator_across_python_and_rust() {
                one_creator_across_processes(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn locks_are_shared_and_never_taken_from_the_holder() {
                super::locks_are_shared_and_never_taken_from_the_holder(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn function_keys_match_python() {
                function_keys_match(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn creation_duration_is_ignored_by_python() {
                super::creation_duration_is_ignored_by_python(&$setup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tags_are_ignored_by_python() {
                super::tags_are_ignored_by_python(&$setup).await;
            }
        }
    )*};
}

interop! {
    dogpile1_pickle => DOGPILE1_PICKLE,
    dogpile1_msgpack => DOGPILE1_MSGPACK,
    dogpile1_json => DOGPILE1_JSON,
    seed05_hstore => SEED05_HSTORE,
    seed05_raw => SEED05_RAW,
    seed05_pickle_int_time => SEED05_PICKLE_INT_TIME,
    seed05_pickle_no_meta => SEED05_PICKLE_NO_META,
    dogpile09_pickle => DOGPILE09_PICKLE,
    seed04_pickle => SEED04_PICKLE,
    seed04_msgpack => SEED04_MSGPACK,
    seed04_raw => SEED04_RAW,
    wheel_pickle => WHEEL_PICKLE,
    wheel_hstore_msgpack => WHEEL_HSTORE_MSGPACK,
    valkey_pickle => VALKEY_PICKLE,
    valkey_msgpack => VALKEY_MSGPACK,
}
