//! The `dogpile_rs` Python regions beside a Rust region on one Redis: a stampede across an
//! asyncio Python process (`dogpile_rs.AsyncRegion`), a threaded Python process
//! (`dogpile_rs.Region`) and this process, where each key is made by one creator run per
//! expiry among all of them, and every caller gets that value (or, while it is remade, the
//! expired one).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dogpile::codec::Value;
use dogpile::config::Arguments;
use dogpile::region::CreateOptions;
use dogpile::{CacheKey, Region};
use dogpile_testing::RedisServer;
use dogpile_testing::python::PythonEnv;
use dogpile_testing::server::Reply;
use futures_util::future::join_all;
use serde_json::Value as Json;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/region_stampede.py");
const ROUNDS: usize = 6;
const PERIOD: f64 = 0.8;
const EXPIRATION: f64 = 0.5;
const CALLERS: usize = 20;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

fn key(round: usize) -> CacheKey {
    CacheKey::from(format!("stampede:{}", round % 2))
}

fn python(mode: &str, server: &RedisServer, start: f64) -> Child {
    let mut command = Command::new(PythonEnv::Wheel.python());
    command.arg(SCRIPT).arg(mode).arg(server.url()).arg(start.to_string());
    command.args([ROUNDS.to_string(), PERIOD.to_string(), EXPIRATION.to_string(), CALLERS.to_string()]);
    command.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot start the {mode} Python process: {e}"))
}

/// Each round's values as a Python process printed them.
fn rounds_of(child: Child) -> Vec<Vec<String>> {
    let output = child.wait_with_output().expect("the Python process");
    assert!(output.status.success(), "the Python process failed: {}", output.status);
    let mut rounds = vec![Vec::new(); ROUNDS];
    for line in BufReader::new(&output.stdout[..]).lines() {
        let line: Json = serde_json::from_str(&line.expect("a line")).expect("a JSON line");
        let round = line["round"].as_u64().expect("a round") as usize;
        rounds[round] =
            line["values"].as_array().expect("values").iter().map(|v| v.as_str().unwrap_or("?").to_owned()).collect();
    }
    rounds
}

async fn rust_rounds(region: &Region, server: &RedisServer, start: f64) -> Vec<Vec<String>> {
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let wait = start + round as f64 * PERIOD - now();
        tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
        let callers = (0..CALLERS).map(|_| async move {
            let options = CreateOptions::new();
            let made = region
                .get_or_create_with(key(round), &options, || async move {
                    server.must(&["INCR", &format!("runs:{round}")]);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, std::io::Error>(Value::from(format!("rust, round {round}")))
                })
                .await;
            match made {
                Ok(Value::Str(text)) => text,
                other => format!("{other:?}"),
            }
        });
        rounds.push(join_all(callers).await);
    }
    rounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_creator_run_per_expiry_across_async_python_threaded_python_and_rust() {
    let server = RedisServer::start();
    dogpile_redis::register();
    // dogpile.cache 1.x's entries (pickle in its envelope), as the Python regions write them.
    let arguments = Arguments::new()
        .with("url", server.url())
        .with("compat", "dogpile-1")
        .with("distributed_lock", true)
        .with("lock_sleep", 0.01);
    let region = Region::builder()
        .configure("redis_advanced", arguments)
        .expiration_time(Duration::from_secs_f64(EXPIRATION))
        .build()
        .expect("the Rust region");
    // The Python processes import and connect before the first round.
    let start = now() + 4.0;
    let (async_python, sync_python) = (python("async", &server, start), python("sync", &server, start));
    let rust = rust_rounds(&region, &server, start).await;
    let sides = [("rust", rust), ("async python", rounds_of(async_python)), ("sync python", rounds_of(sync_python))];
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let runs: i64 = match server.must(&["GET", &format!("runs:{round}")]) {
            Reply::Bulk(Some(n)) => String::from_utf8_lossy(&n).parse().unwrap_or(-1),
            other => panic!("runs:{round}: {other:?}"),
        };
        let made_now = |v: &str| v.ends_with(&format!("round {round}"));
        let stale = |v: &str| round >= 2 && v.ends_with(&format!("round {}", round - 2));
        for (side, rounds) in &sides {
            let odd = rounds[round].iter().filter(|v| !made_now(v) && !stale(v)).collect::<Vec<_>>();
            if rounds[round].len() != CALLERS || !odd.is_empty() {
                failures.push(format!("round {round}, {side}: {} values, unexpected {odd:?}", rounds[round].len()));
            }
        }
        if runs != 1 {
            let seen = sides
                .iter()
                .map(|(side, rounds)| {
                    format!("{side}: {:?}", rounds[round].iter().collect::<std::collections::BTreeSet<_>>())
                })
                .collect::<Vec<_>>();
            failures.push(format!("round {round}: {runs} creator runs; {seen:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
