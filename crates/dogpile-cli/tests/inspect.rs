//! `dogpile inspect` on entries written in each format, by Rust regions and by Python's
//! dogpile.cache, on a private redis-server.

use std::path::Path;
use std::process::Command;

use dogpile::codec::Value;
use dogpile::config::Arguments;
use dogpile::{CacheKey, Region};
use dogpile_testing::RedisServer;
use dogpile_testing::python::{PythonEnv, PythonRegion, to_spec};
use serde_json::json;

fn dogpile(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile")).args(args).output().expect("run the dogpile binary");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn inspect(server: &RedisServer, args: &[&str]) -> String {
    let url = server.url();
    let mut all = vec!["inspect", "--url", url.as_str()];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = dogpile(&all);
    assert!(ok, "dogpile {all:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn line<'a>(report: &'a str, label: &str) -> &'a str {
    report.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} line in:\n{report}"))
}

fn region(server: &RedisServer, backend: &str, args: &[(&str, &str)]) -> Region {
    dogpile_redis::register();
    let mut arguments = Arguments::new().with("url", server.url());
    for (key, value) in args {
        arguments.insert(*key, dogpile::config::ConfigValue::coerce(value));
    }
    Region::builder().configure(backend, arguments).build().expect("region")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_is_named_with_its_value_age_ttl_and_lock() {
    let server = RedisServer::start();
    let user = Value::Dict(vec![(Value::from("name"), Value::from("Ada")), (Value::from("id"), Value::from(42))]);
    // dogpile.cache 1.x's layout, pickle, with a held lock.
    region(&server, "dogpile.cache.redis", &[]).set("py:user", &user).await.unwrap();
    server.must(&["SET", "_lockpy:user", "tok-123", "PX", "30000"]);
    // dogpile-rs's default, in a hash field with a Redis TTL.
    region(&server, "redis_advanced_hstore", &[("redis_expiration_time", "60")])
        .set(CacheKey::hash("users", "7"), &user)
        .await
        .unwrap();
    // Plugin 0.5.0's raw format, which keeps no creation time.
    region(&server, "dogpile_backend_redis_advanced.already_serialized", &[])
        .set("raw", &Value::from("plain text"))
        .await
        .unwrap();
    server.must(&["RPUSH", "a-list", "x"]);

    let report = inspect(&server, &["py:user"]);
    assert!(line(&report, "format:").contains("dogpile 1.x, pickle"), "{report}");
    let value: serde_json::Value = serde_json::from_str(line(&report, "value:")["value:".len()..].trim()).unwrap();
    assert_eq!(value, json!({"name": "Ada", "id": 42}), "{report}");
    assert!(line(&report, "created:").contains("s ago"), "{report}");
    assert!(line(&report, "redis ttl:").contains("none"), "{report}");
    assert!(line(&report, "lock:").contains("_lockpy:user held, token tok-123"), "{report}");

    let report = inspect(&server, &["users", "--field", "7"]);
    assert!(line(&report, "format:").contains("seed, msgpack"), "{report}");
    let ttl: f64 = line(&report, "redis ttl:")["redis ttl:".len()..].trim().trim_end_matches(" s").parse().unwrap();
    assert!((50.0..=60.0).contains(&ttl), "{report}");
    assert!(line(&report, "lock:").contains("_lockusers,7 free"), "{report}");

    let report = inspect(&server, &["raw", "--lock-prefix", "_lok."]);
    assert!(line(&report, "format:").contains("plugin 0.5.0 raw"), "{report}");
    assert!(line(&report, "value:").contains("\"plain text\""), "{report}");
    assert!(line(&report, "created:").contains("not kept"), "{report}");
    assert!(line(&report, "lock:").contains("_lok.raw free"), "{report}");

    assert!(line(&inspect(&server, &["a-list"]), "stored:").contains("a Redis list"));
    assert!(line(&inspect(&server, &["nothing-here"]), "stored:").contains("nothing"));
    assert!(line(&inspect(&server, &["users"]), "stored:").contains("a hash of 1 fields"));

    let summary = inspect(&server, &["--scan", "*"]);
    assert!(summary.starts_with("5 keys matching \"*\""), "{summary}");
    let entries = |format: &str| -> u64 {
        let row = line(&summary, format);
        // The entries column comes before the bytes column, last.
        row.split_whitespace().rev().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{row}"))
    };
    assert_eq!(entries("dogpile 1.x, pickle"), 1, "{summary}");
    assert_eq!(entries("seed, msgpack"), 1, "{summary}");
    assert_eq!(entries("plugin 0.5.0 raw"), 1, "{summary}");
    assert_eq!(entries("(a Redis list)"), 1, "{summary}");
    assert_eq!(entries("(a lock)"), 1, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_python_dogpile_wrote_is_read() {
    let server = RedisServer::start();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dogpile-redis/tests/python/driver.py");
    let mut python = PythonRegion::start(PythonEnv::Dogpile1, &driver, "dogpile1-pickle", &server.url());
    let value = Value::List(vec![Value::from("a"), Value::from(1.5), Value::None]);
    let answer = python.call(json!({"op": "set", "key": "from-python", "value": to_spec(&value)}));
    assert!(answer.get("error").is_none(), "{answer}");
    let report = inspect(&server, &["from-python"]);
    assert!(line(&report, "format:").contains("dogpile 1.x, pickle"), "{report}");
    assert!(line(&report, "value:").contains(r#"["a",1.5,null]"#), "{report}");
}

#[test]
fn an_unreachable_server_is_reported_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let (ok, stdout, stderr) = dogpile(&["inspect", "--url", &url, "k"]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("cannot connect") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrys_tags_are_shown_with_their_last_invalidation() {
    let server = RedisServer::start();
    let region = region(&server, "redis_advanced", &[]);
    let tags = dogpile::region::SetOptions::new().tags(["user:42", "team:7"]);
    region.set_with("tagged", &Value::from("Ada"), tags).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    region.invalidate_tags(["team:7"], false).await.unwrap();
    let report = inspect(&server, &["tagged"]);
    let tag_lines: Vec<&str> = report.lines().filter(|l| l.starts_with("tag:")).collect();
    assert_eq!(tag_lines.len(), 2, "{report}");
    assert!(tag_lines[0].contains("user:42: not invalidated"), "{report}");
    assert!(tag_lines[1].contains("team:7: invalidated (soft)"), "{report}");
    assert!(tag_lines[1].contains("it is invalidated"), "{report}");
}
