//! `dogpile demo` as a user runs it.

use std::process::Command;

fn dogpile(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dogpile")).args(args).output().expect("run the dogpile binary")
}

fn numbers_after(text: &str, label: &str) -> Vec<u64> {
    let line = text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} row in:\n{text}"));
    line[label.len()..].split_whitespace().filter_map(|w| w.replace(',', "").parse().ok()).collect()
}

#[test]
fn demo_shows_the_lock_saving_creator_runs() {
    let out = dogpile(&[
        "demo",
        "--callers",
        "200",
        "--duration",
        "1s",
        "--ttl",
        "200ms",
        "--creator-time",
        "20ms",
        "--keys",
        "4",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    let runs = numbers_after(&stdout, "creator runs");
    assert_eq!(runs.len(), 2, "{stdout}");
    let (with, without) = (runs[0], runs[1]);
    // 4 keys, a value lives 200 ms, 1 s per run: about 5 regenerations per key with the lock
    // (a few more on a loaded machine), and one per caller that saw the key expired without.
    assert!((4..=40).contains(&with), "creator runs with the lock: {with}\n{stdout}");
    assert!(without > with * 3, "without the lock the creator must run far more often: {with} vs {without}\n{stdout}");
    assert!(stdout.contains("The dogpile lock saved"), "{stdout}");
    // Callers wait only while a key has no value and another caller is creating it: some do
    // at the start, and at most once per caller and key.
    let waits = numbers_after(&stdout, "waits");
    assert!(waits.len() == 1 && (1..=800).contains(&waits[0]), "waits: {waits:?}\n{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "a progress line goes to stderr");
}

#[test]
fn demo_on_redis_from_three_processes_runs_the_creator_once_per_expiry() {
    let server = dogpile_testing::RedisServer::start();
    let url = server.url();
    let out = dogpile(&[
        "demo",
        "--url",
        &url,
        "--processes",
        "3",
        "--callers",
        "50",
        "--duration",
        "1500ms",
        "--ttl",
        "300ms",
        "--creator-time",
        "20ms",
        "--keys",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("x 3 processes") && stdout.contains("distributed lock"), "{stdout}");
    let runs = numbers_after(&stdout, "creator runs");
    let (with, without) = (runs[0], runs[1]);
    // 2 keys, 1.5 s, values live 300 ms: about 2 x 5 expiries (plus the first creation). Were the
    // processes not sharing the lock, each would regenerate on its own: three times as many.
    assert!((2..=16).contains(&with), "creator runs with the lock across 3 processes: {with}\n{stdout}");
    assert!(without > with * 2, "{with} vs {without}\n{stdout}");
    assert_eq!(
        server.must(&["EXISTS", "dogpile:demo"]),
        dogpile_testing::server::Reply::Int(1),
        "values live in one hash"
    );
}

#[tokio::test]
async fn a_lock_left_by_a_killed_process_is_taken_over() {
    use dogpile_testing::server::Reply;
    let server = dogpile_testing::RedisServer::start();
    // A demo process whose creator takes a minute: it takes the lock and is killed holding it.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["demo", "--url", &server.url(), "--callers", "1", "--keys", "1", "--duration", "60s"])
        .args(["--creator-time", "60s", "--lock-timeout", "1s", "--no-compare"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let lock = "_lockdogpile:demo,key:0";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.must(&["EXISTS", lock]) != Reply::Int(1) {
        assert!(std::time::Instant::now() < deadline, "the demo never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    holder.kill().expect("kill the holder");
    holder.wait().expect("reap the holder");
    assert_eq!(server.must(&["EXISTS", lock]), Reply::Int(1), "the dead holder's lock is still there");

    let config = dogpile_redis::RedisConfig::from_url(server.url())
        .distributed_lock(true)
        .lock_sleep(std::time::Duration::from_millis(20));
    let region = dogpile::Region::builder()
        .backend(dogpile_redis::RedisAdvancedHstoreBackend::new(config).unwrap())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let value: String = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        region.get_or_create(("dogpile:demo", "key:0"), || async { Ok::<_, std::io::Error>("taken over".to_string()) }),
    )
    .await
    .expect("the lock was never taken over")
    .unwrap();
    assert_eq!(value, "taken over");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn processes_need_redis() {
    let out = dogpile(&["demo", "--processes", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--processes needs Redis (--url, --cluster, --sentinels)"));
}

#[test]
fn an_unreachable_redis_is_reported_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = dogpile(&["demo", "--url", &format!("redis://user:s3cret@127.0.0.1:{port}/0"), "--duration", "200ms"]);
    assert_eq!(out.status.code(), Some(2));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("<redacted>") && !all.contains("s3cret"), "{all}");
    assert!(all.to_lowercase().contains("connect"), "{all}");
}

#[test]
fn bad_arguments_are_reported() {
    let out = dogpile(&["demo", "--ttl", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn demo_on_a_spawned_cluster_from_two_processes_shares_the_lock() {
    let out = dogpile(&[
        "demo",
        "--spawn-cluster",
        "--processes",
        "2",
        "--callers",
        "50",
        "--duration",
        "1s",
        "--ttl",
        "250ms",
        "--keys",
        "4",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    let runs = numbers_after(&stdout, "creator runs");
    // 4 keys regenerated about every 250 ms for 1 s, once across both processes.
    assert!((4..=40).contains(&runs[0]), "creator runs with the lock: {runs:?}\n{stdout}");
    assert!(runs[1] > runs[0] * 3, "{runs:?}\n{stdout}");
}

fn scenario(name: &str) -> String {
    let out = dogpile(&[
        "demo",
        "--scenario",
        name,
        "--callers",
        "50",
        "--duration",
        "1500ms",
        "--ttl",
        "200ms",
        "--creator-time",
        "20ms",
        "--keys",
        "4",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn fail_safe_scenario_answers_every_call_with_the_database_down() {
    let stdout = scenario("fail-safe");
    let errors = numbers_after(&stdout, "errors");
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(errors[0] > 0, "plain get_or_create must fail with the database down:\n{stdout}");
    assert_eq!(errors[1], 0, "fail-safe must answer every call:\n{stdout}");
    let served = numbers_after(&stdout, "expired values served by fail-safe");
    assert!(served[1] > 0, "{stdout}");
}

#[test]
fn fail_open_scenario_answers_calls_while_redis_is_down() {
    let stdout = scenario("fail-open");
    let errors = numbers_after(&stdout, "errors");
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(errors[0] > 0, "without fail-open, calls fail while Redis is down:\n{stdout}");
    assert_eq!(errors[1], 0, "fail-open must answer every call:\n{stdout}");
    let during = numbers_after(&stdout, "calls with Redis down");
    assert!(during[1] > 0, "{stdout}");
}

#[test]
fn early_refresh_scenario_refreshes_ahead_and_waits_less() {
    let stdout = scenario("early-refresh");
    let refreshes = numbers_after(&stdout, "early refreshes");
    assert_eq!(refreshes.len(), 2, "{stdout}");
    assert!(refreshes[0] == 0 && refreshes[1] > 0, "{stdout}");
    // "N (x.xx%)" per column: the percentages do not parse, the counts do.
    let waited = numbers_after(&stdout, "callers that waited");
    assert_eq!(waited.len(), 2, "{stdout}");
    assert!(waited[0] > 0, "plain get_or_create: the regenerating caller waits:\n{stdout}");
    assert!(waited[1] <= waited[0], "{stdout}");
}

/// The body of `GET /metrics` at `port`, or `None` while nothing answers there.
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/1.1 200").then_some(response)
}

#[test]
fn demo_serves_its_metrics_while_it_runs() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let demo = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["demo", "--metrics", &addr, "--duration", "3s", "--no-compare", "--callers", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the dogpile binary");
    let started = std::time::Instant::now();
    let mut scraped = None;
    while started.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        match scrape(port) {
            Some(body) if body.contains("dogpile_stale_served_total{region=\"demo_with_lock\"") => {
                scraped = Some(body);
                break;
            }
            _ => {}
        }
    }
    let out = demo.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = scraped.unwrap_or_else(|| panic!("no metrics at {addr} during the run"));
    let runs: Vec<u64> = body
        .lines()
        .filter(|l| l.starts_with("dogpile_creator_runs_total{region=\"demo_with_lock\",backend=\"memory\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(runs.len() == 1 && runs[0] >= 1, "{body}");
    assert!(body.contains("# TYPE dogpile_operation_duration_seconds summary"), "{body}");
    assert!(body.contains("operation=\"get_or_create\""), "{body}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("serving metrics at http://{addr}/metrics")));
}
