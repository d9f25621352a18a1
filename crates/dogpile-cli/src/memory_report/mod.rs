//! `dogpile memory-report`: the seed's demo data set under each storage strategy, and the
//! Redis memory each one takes; then JSON-like documents of 2 to 20 KiB, as they are and
//! compressed.

mod documents;

use std::time::Duration;

use dogpile::codec::{Codec, Envelope, Format};
use dogpile::{CacheKey, Region};
use dogpile_redis::redis;
use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
use serde::Serialize;

use crate::stats::thousands;
use crate::target::{Target, used_memory};

/// Options of `dogpile memory-report`.
#[derive(Debug, Clone, clap::Args)]
pub struct MemoryReportArgs {
    /// The Redis to measure (its selected database is emptied; needs --allow-flush).
    #[arg(long)]
    url: Option<String>,
    /// Start a private redis-server for the report instead.
    #[arg(long, conflicts_with = "spawn_valkey")]
    spawn: bool,
    /// Start a private Valkey 9 server for the report instead: it has the per-field TTLs of
    /// the last row.
    #[arg(long, conflicts_with = "url")]
    spawn_valkey: bool,
    /// The valkey-server binary for --spawn-valkey (default: the one DOGPILE_VALKEY_SERVER_BIN
    /// names, else valkey-server on PATH).
    #[arg(long, value_name = "PATH", requires = "spawn_valkey")]
    valkey_server: Option<std::path::PathBuf>,
    /// Fraction of the full data set (1.1 million values at --scale 1).
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
    /// Allow emptying the database at --url (FLUSHDB) before each strategy.
    #[arg(long)]
    allow_flush: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

const TTL: Duration = Duration::from_secs(3600);
const BATCH: usize = 1000;
const MAP_PREFIXES: [&str; 6] = ["foo", "foobar", "foobarbiz", "foobarbizbash", "foobarbizbashfizzbuzz", "fizzbuzz"];
const STRING_PREFIXES: [&str; 4] =
    ["qkknasdkk", "kehzipqyfnslhtqnzjsgqolf", "7124n9jasdgqbozjayqkdhag", "61jkansd89asd"];

/// A value of the data set, serialized as what it holds.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Value {
    Int(u64),
    Map { one: u64, two: &'static str },
    Str(&'static str),
}

/// The data set: (plain key, hash name, hash field, value).
fn data_set(scale: f64) -> Vec<(String, String, String, Value)> {
    let n = |full: f64| (full * scale).round() as u64;
    let mut out = Vec::new();
    for i in 0..n(1_000_000.0) {
        out.push((i.to_string(), (i / 100).to_string(), (i % 100).to_string(), Value::Int(i * 10)));
    }
    for prefix in MAP_PREFIXES {
        for i in 0..n(10_000.0) {
            let value = Value::Map { one: i * 399, two: prefix };
            out.push((format!("{prefix}|{i}"), format!("{prefix}|{}", i / 100), (i % 100).to_string(), value));
        }
    }
    for prefix in STRING_PREFIXES {
        for i in 0..n(10_000.0) {
            out.push((
                format!("{prefix}|{i}"),
                format!("{prefix}|{}", i / 100),
                (i % 100).to_string(),
                Value::Str(prefix),
            ));
        }
    }
    out
}

struct Strategy {
    name: &'static str,
    codec: Codec,
    hash: bool,
    /// Each field gets a TTL of its own (measured with a TTL only).
    per_field: bool,
}

fn strategies() -> Vec<Strategy> {
    let s =
        |name, format, envelope, hash| Strategy { name, codec: Codec::new(format, envelope), hash, per_field: false };
    vec![
        s("dogpile 1.x envelope, JSON payload", Format::Json, Envelope::Dogpile1, false),
        s("seed msgpack envelope [payload, {ct, v}]", Format::Msgpack, Envelope::Seed, false),
        s("compact envelope [payload, ct]", Format::Msgpack, Envelope::Compact, false),
        s("raw msgpack", Format::Msgpack, Envelope::Raw, false),
        s("raw JSON", Format::Json, Envelope::Raw, false),
        s("hash storage, raw msgpack, 100 fields per hash", Format::Msgpack, Envelope::Raw, true),
        Strategy {
            per_field: true,
            ..s("hash storage, raw msgpack, 100 fields per hash, a TTL per field", Format::Msgpack, Envelope::Raw, true)
        },
    ]
}

#[derive(Debug, Serialize)]
struct Row {
    strategy: &'static str,
    redis_ttl: bool,
    expiry_in_dogpile: bool,
    values: usize,
    used_memory: u64,
    bytes_per_value: f64,
    percent_of_first: f64,
}

pub fn run(args: MemoryReportArgs) -> Result<(), String> {
    if !(args.scale > 0.0 && args.scale <= 10.0) {
        return Err("--scale must be above 0 and at most 10".into());
    }
    if args.url.is_some() && !args.allow_flush {
        return Err("memory-report empties the selected database before each strategy: add --allow-flush to agree, \
                    or use --spawn for a private redis-server"
            .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let target = if args.spawn_valkey {
        Target::valkey(args.valkey_server.as_deref())?
    } else {
        Target::new(args.url.clone(), args.spawn)?
    };
    let (rows, documents, empty, skipped) = runtime.block_on(measure(&args, &target))?;
    if args.json {
        let json = serde_json::json!({
            "scale": args.scale, "empty_used_memory": empty, "rows": rows, "documents": documents, "left_out": skipped
        });
        println!("{}", serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!(
        "dogpile memory-report: {} values (scale {}), against {}",
        thousands(rows.first().map_or(0, |r| r.values as u64)),
        args.scale,
        dogpile::config::redact_url(&target.url)
    );
    println!("Bytes per value and % leave out the empty server's used_memory ({} bytes).", thousands(empty));
    println!();
    table(&rows);
    println!();
    let count = documents.first().map_or(0, |r| r.values as u64);
    println!("{} JSON-like documents of 2 to 20 KiB, as they are and compressed:", thousands(count));
    println!();
    table(&documents);
    for why in skipped {
        println!();
        println!("{why}");
    }
    Ok(())
}

fn table(rows: &[Row]) {
    println!("| strategy | TTL on Redis | expiry in dogpile | used_memory | bytes/value | % of first row |");
    println!("|---|---|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1}% |",
            r.strategy,
            if r.redis_ttl { "yes" } else { "no" },
            if r.expiry_in_dogpile { "yes" } else { "no" },
            thousands(r.used_memory),
            r.bytes_per_value,
            r.percent_of_first
        );
    }
}

/// What each row measured.
type Measured = (Vec<Row>, Vec<Row>, u64, Vec<String>);

/// The rows, the documents' rows, the empty server's `used_memory`, and why strategies were
/// left out.
async fn measure(args: &MemoryReportArgs, target: &Target) -> Result<Measured, String> {
    let data = data_set(args.scale);
    let mut admin = target.admin().await?;
    let mut rows: Vec<Row> = Vec::new();
    let mut empty = 0;
    let mut skipped = Vec::new();
    let plan: Vec<(Strategy, bool)> = strategies()
        .into_iter()
        .flat_map(|s| if s.per_field { vec![(s, true)] } else { vec![(s.clone_shallow(), false), (s, true)] })
        .collect();
    let progress = crate::progress::Progress::new((plan.len() * data.len()) as u64);
    for (n, (strategy, ttl)) in plan.iter().enumerate() {
        progress.stage(&format!("[{}/{}] {}{}", n + 1, plan.len(), strategy.name, if *ttl { ", TTL" } else { "" }));
        redis::cmd("FLUSHDB").arg("SYNC").query_async::<()>(&mut admin).await.map_err(|e| e.to_string())?;
        empty = used_memory(&mut admin).await?;
        let policy = if strategy.per_field { HashTtlPolicy::PerField } else { HashTtlPolicy::OnCreate };
        let mut config = RedisConfig::from_url(&target.url).redis_expiration_time_hash(policy);
        if *ttl {
            config = config.redis_expiration_time(TTL);
        }
        let backend = match RedisAdvancedHstoreBackend::connect(config).await {
            Err(err @ dogpile::Error::Config { .. }) => {
                skipped.push(format!("Left out: {}: {err} (measure it with --spawn-valkey).", strategy.name));
                progress.advance(data.len() as u64);
                continue;
            }
            other => other.map_err(|e| e.to_string())?,
        };
        let region =
            Region::builder().backend(backend).codec(strategy.codec.clone()).build().map_err(|e| e.to_string())?;
        for batch in data.chunks(BATCH) {
            let items = batch.iter().map(|(plain, name, field, value)| {
                let key = if strategy.hash {
                    CacheKey::hash(name.as_str(), field.as_str())
                } else {
                    CacheKey::from(plain.as_str())
                };
                (key, value)
            });
            region.set_multi(items).await.map_err(|e| e.to_string())?;
            progress.advance(batch.len() as u64);
        }
        let used = used_memory(&mut admin).await?;
        let net = used.saturating_sub(empty) as f64;
        let first = rows.first().map_or(net, |r| r.bytes_per_value * r.values as f64);
        rows.push(Row {
            strategy: strategy.name,
            redis_ttl: *ttl,
            expiry_in_dogpile: strategy.codec.envelope().keeps_creation_time(),
            values: data.len(),
            used_memory: used,
            bytes_per_value: net / data.len() as f64,
            percent_of_first: 100.0 * net / first.max(1.0),
        });
    }
    progress.finish();
    let documents = documents::measure(args.scale, target, &mut admin).await?;
    redis::cmd("FLUSHDB").arg("SYNC").query_async::<()>(&mut admin).await.map_err(|e| e.to_string())?;
    Ok((rows, documents, empty, skipped))
}

impl Strategy {
    fn clone_shallow(&self) -> Strategy {
        Strategy { name: self.name, codec: self.codec.clone(), hash: self.hash, per_field: self.per_field }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_data_set_has_1_1_million_values() {
        let small = data_set(0.01);
        assert_eq!(small.len(), 10_000 + 6 * 100 + 4 * 100);
        assert_eq!(small[0].0, "0");
        assert!(small.iter().any(|(k, h, f, _)| k == "foo|57" && h == "foo|0" && f == "57"));
        assert_eq!((1_000_000.0_f64 * 1.0).round() as usize + 6 * 10_000 + 4 * 10_000, 1_100_000);
    }
}
