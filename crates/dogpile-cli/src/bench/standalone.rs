//! The single-server workloads: each through dogpile and through its raw `redis` twin.

use std::sync::Arc;
use std::time::Duration;

use dogpile::codec::{Codec, Compression, Envelope, Format};
use dogpile::{CacheKey, Clock, Region, SystemClock};
use dogpile_redis::redis::{self, AsyncCommands};
use dogpile_redis::{HashTtlPolicy, RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_servers::CountingProxy;

use super::BenchArgs;
use super::harness::{
    Op, ROUNDS, Row, Small, decode_all, err, get_or_create_hit, get_or_create_hit_at, raw_decode, small, throughput,
};
use crate::stats::{Latencies, thousands};
use crate::target::{Target, client_cpu, command_total, server_cpu};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Dogpile,
    Raw,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    GetHit,
    Set,
    GetOrCreateHit,
    /// `get_or_create` hits through an L1 in front of Redis.
    GetOrCreateHitL1,
    /// `get_or_create` hits on a value with two tags.
    GetOrCreateHitTagged,
    GetMultiPlain,
    GetMultiMixed,
    SetMultiMixed(HashTtlPolicy),
    RawCodecGetMultiMixed,
    /// `get_or_create_multi` of 100 plain keys, 10 of them never seen, with or without the
    /// distributed lock.
    GetOrCreateMultiMisses {
        lock: bool,
    },
    /// `get_or_create` hits on `keys` keys in turn, through a backend that coalesces reads
    /// with `in_flight` of them out at once (from many tasks: what the coalescer gathers).
    GetOrCreateHitSpread {
        keys: usize,
        in_flight: usize,
    },
    /// A 10 KiB document read (`write: false`) or written through a region that compresses
    /// it; the raw twin stores it uncompressed.
    Document {
        compression: Compression,
        write: bool,
    },
}

struct Workload {
    name: &'static str,
    kind: Kind,
    tasks: usize,
    keys_per_op: usize,
}

const WORKLOADS: [Workload; 24] = [
    Workload { name: "get_hit", kind: Kind::GetHit, tasks: 1, keys_per_op: 1 },
    Workload { name: "set", kind: Kind::Set, tasks: 1, keys_per_op: 1 },
    Workload { name: "get_or_create_hit", kind: Kind::GetOrCreateHit, tasks: 1, keys_per_op: 1 },
    Workload { name: "get_or_create_hit_l1", kind: Kind::GetOrCreateHitL1, tasks: 1, keys_per_op: 1 },
    Workload { name: "get_or_create_hit_tagged", kind: Kind::GetOrCreateHitTagged, tasks: 1, keys_per_op: 1 },
    Workload { name: "get_or_create_hit_64_tasks", kind: Kind::GetOrCreateHit, tasks: 64, keys_per_op: 1 },
    Workload { name: "get_multi_plain_100", kind: Kind::GetMultiPlain, tasks: 1, keys_per_op: 100 },
    Workload { name: "get_multi_mixed_100", kind: Kind::GetMultiMixed, tasks: 1, keys_per_op: 100 },
    Workload {
        name: "set_multi_mixed_100_ttl_hash_none",
        kind: Kind::SetMultiMixed(HashTtlPolicy::OnCreate),
        tasks: 1,
        keys_per_op: 100,
    },
    Workload {
        name: "set_multi_mixed_100_ttl_hash_true",
        kind: Kind::SetMultiMixed(HashTtlPolicy::OnEveryWrite),
        tasks: 1,
        keys_per_op: 100,
    },
    Workload { name: "raw_get_multi_mixed_100", kind: Kind::RawCodecGetMultiMixed, tasks: 1, keys_per_op: 100 },
    Workload {
        name: "get_or_create_multi_100_10_misses",
        kind: Kind::GetOrCreateMultiMisses { lock: false },
        tasks: 1,
        keys_per_op: 100,
    },
    Workload {
        name: "get_or_create_multi_100_10_misses_lock",
        kind: Kind::GetOrCreateMultiMisses { lock: true },
        tasks: 1,
        keys_per_op: 100,
    },
    Workload { name: "coalesced_get_or_create_hit", kind: spread(1), tasks: 1, keys_per_op: 1 },
    Workload { name: "coalesced_get_or_create_hit_64_tasks", kind: spread(1), tasks: 64, keys_per_op: 1 },
    Workload { name: "coalesced_get_or_create_hit_64_tasks_1000_keys", kind: spread(1000), tasks: 64, keys_per_op: 1 },
    Workload { name: "coalesced_get_or_create_hit_64_tasks_10_hot_keys", kind: spread(10), tasks: 64, keys_per_op: 1 },
    Workload {
        name: "coalesced_get_or_create_hit_256_tasks_1000_keys",
        kind: spread(1000),
        tasks: 256,
        keys_per_op: 1,
    },
    Workload {
        name: "coalesced_2_in_flight_get_or_create_hit_64_tasks_1000_keys",
        kind: Kind::GetOrCreateHitSpread { keys: 1000, in_flight: 2 },
        tasks: 64,
        keys_per_op: 1,
    },
    Workload {
        name: "coalesced_2_in_flight_get_or_create_hit_64_tasks_10_hot_keys",
        kind: Kind::GetOrCreateHitSpread { keys: 10, in_flight: 2 },
        tasks: 64,
        keys_per_op: 1,
    },
    Workload { name: "get_10kib_zstd", kind: document(Compression::Zstd, false), tasks: 1, keys_per_op: 1 },
    Workload { name: "get_10kib_lz4", kind: document(Compression::Lz4, false), tasks: 1, keys_per_op: 1 },
    Workload { name: "set_10kib_zstd", kind: document(Compression::Zstd, true), tasks: 1, keys_per_op: 1 },
    Workload { name: "set_10kib_lz4", kind: document(Compression::Lz4, true), tasks: 1, keys_per_op: 1 },
];

const fn spread(keys: usize) -> Kind {
    Kind::GetOrCreateHitSpread { keys, in_flight: 1 }
}

const fn document(compression: Compression, write: bool) -> Kind {
    Kind::Document { compression, write }
}

/// The Redis TTL of the values the miss workloads create (each call creates new keys).
const MISS_TTL: Duration = Duration::from_secs(60);

/// 90 keys the bench wrote beforehand, and 10 never seen (`layer` keeps the two layers apart).
fn keys_with_misses(layer: &str) -> Vec<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let mut keys: Vec<String> = (0..90).map(|i| format!("bench:plain:{i}")).collect();
    keys.extend((0..10).map(|j| format!("bench:miss:{layer}:{call}:{j}")));
    keys
}

const TTL: Duration = Duration::from_secs(3600);

fn plain_keys(prefix: &str) -> Vec<CacheKey> {
    (0..100).map(|i| CacheKey::from(format!("{prefix}plain:{i}"))).collect()
}

/// 50 plain keys and 50 fields over 10 hashes.
fn mixed_keys(prefix: &str) -> Vec<CacheKey> {
    let mut keys: Vec<CacheKey> = (0..50).map(|i| CacheKey::from(format!("{prefix}plain:{i}"))).collect();
    keys.extend((0..50).map(|i| CacheKey::hash(format!("{prefix}hash:{}", i % 10), format!("f{i}"))));
    keys
}

fn key_name(key: &CacheKey) -> (String, Option<String>) {
    match key {
        CacheKey::Hash { name, field } => (name.clone(), Some(field.clone())),
        other => (other.to_string(), None),
    }
}

/// The raw pipeline that reads `keys`: MGET of the plain keys, one HMGET per hash.
fn read_pipeline(keys: &[CacheKey]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    let mut plain = Vec::new();
    let mut hashes: Vec<(String, Vec<String>)> = Vec::new();
    for key in keys {
        match key_name(key) {
            (name, None) => plain.push(name),
            (name, Some(field)) => match hashes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, fields)) => fields.push(field),
                None => hashes.push((name, vec![field])),
            },
        }
    }
    if !plain.is_empty() {
        pipe.cmd("MGET").arg(plain);
    }
    for (name, fields) in hashes {
        pipe.cmd("HMGET").arg(name).arg(fields);
    }
    pipe
}

/// A hash field and its bytes.
type FieldValue = (String, Vec<u8>);

/// The raw pipeline that writes `items` the way the hstore backend does with a TTL: SET EX for
/// plain keys, and per hash the backend's script, which writes the fields and sets the TTL all
/// or nothing (loaded once when the operation is built).
fn write_pipeline(items: &[(CacheKey, Vec<u8>)], policy: HashTtlPolicy, script: &redis::Script) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    let mut hashes: Vec<(String, Vec<FieldValue>)> = Vec::new();
    for (key, value) in items {
        match key_name(key) {
            (name, None) => {
                pipe.cmd("SET").arg(name).arg(value).arg("EX").arg(TTL.as_secs());
            }
            (name, Some(field)) => match hashes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, fields)) => fields.push((field, value.clone())),
                None => hashes.push((name, vec![(field, value.clone())])),
            },
        }
    }
    let mode = if policy == HashTtlPolicy::OnCreate { "created" } else { "always" };
    for (name, fields) in hashes {
        let mut invocation = script.key(&name);
        invocation.arg(TTL.as_millis() as u64).arg(mode);
        for (field, value) in &fields {
            invocation.arg(field).arg(value);
        }
        pipe.invoke_script(&invocation);
    }
    pipe
}

fn region(url: &str, hstore: bool, policy: HashTtlPolicy, codec: Codec) -> Result<Region, String> {
    let config = RedisConfig::from_url(url).redis_expiration_time(TTL).redis_expiration_time_hash(policy);
    let builder = Region::builder().codec(codec);
    let builder = if hstore {
        builder.backend(RedisAdvancedHstoreBackend::new(config).map_err(err)?)
    } else {
        builder.backend(RedisAdvancedBackend::new(config).map_err(err)?)
    };
    builder.build().map_err(err)
}

/// Builds the operation of `kind` on `layer`, connected to `url`.
async fn build(kind: Kind, layer: Layer, url: &str) -> Result<Op, String> {
    match layer {
        Layer::Raw => build_raw(kind, url).await,
        Layer::Dogpile => build_dogpile(kind, url).await,
    }
}

/// The raw twin of `kind`: the `redis` crate, and the codec where values are decoded.
async fn build_raw(kind: Kind, url: &str) -> Result<Op, String> {
    let raw_codec = Codec::new(Format::Msgpack, Envelope::Raw);
    let client = redis::Client::open(url).map_err(err)?;
    let conn = client.get_connection_manager().await.map_err(err)?;
    let op: Op = match kind {
        Kind::GetHit | Kind::GetOrCreateHit | Kind::GetOrCreateHitL1 | Kind::GetOrCreateHitTagged => {
            let key = if matches!(kind, Kind::GetOrCreateHitTagged) { "bench:tagged" } else { "bench:small" };
            Arc::new(move || {
                let mut conn = conn.clone();
                Box::pin(async move {
                    let v: Option<Vec<u8>> = conn.get(key).await.map_err(err)?;
                    let bytes = v.ok_or_else(|| format!("{key} is missing"))?;
                    raw_decode(&Codec::default(), &bytes).map(drop)
                })
            })
        }
        Kind::GetOrCreateMultiMisses { .. } => Arc::new(move || {
            let mut conn = conn.clone();
            Box::pin(async move {
                // What a user's read-through does by hand: read all, decode the hits,
                // create and write the misses in one pipeline.
                let keys = keys_with_misses("raw");
                let found: Vec<Option<Vec<u8>>> = conn.mget(&keys).await.map_err(err)?;
                let codec = Codec::default();
                let mut pipe = redis::pipe();
                for (key, value) in keys.iter().zip(&found) {
                    match value {
                        Some(bytes) => drop(raw_decode(&codec, bytes)?),
                        None => {
                            let bytes = codec.encode(&small(1), SystemClock.now()).map_err(err)?;
                            pipe.cmd("SET").arg(key).arg(bytes).arg("EX").arg(MISS_TTL.as_secs()).ignore();
                        }
                    }
                }
                pipe.query_async::<()>(&mut conn).await.map_err(err)
            })
        }),
        // The raw twins of the writes encode what they write, with the same codec, as a
        // user of the redis crate encodes their values.
        Kind::Set => Arc::new(move || {
            let mut conn = conn.clone();
            Box::pin(async move {
                let value = Codec::default().encode(&small(1), SystemClock.now()).map_err(err)?;
                conn.set::<_, _, ()>("bench:set", value).await.map_err(err)
            })
        }),
        Kind::GetMultiPlain => {
            let keys: Vec<String> = plain_keys("bench:").iter().map(|k| k.to_string()).collect();
            Arc::new(move || {
                let (mut conn, keys) = (conn.clone(), keys.clone());
                Box::pin(async move {
                    let v: Vec<Option<Vec<u8>>> = conn.mget(keys).await.map_err(err)?;
                    decode_all(&Codec::default(), v.iter(), 100)
                })
            })
        }
        Kind::GetMultiMixed | Kind::RawCodecGetMultiMixed => {
            let (prefix, codec) = match kind {
                Kind::RawCodecGetMultiMixed => ("bench:raw:", raw_codec),
                _ => ("bench:", Codec::default()),
            };
            let keys = Arc::new(mixed_keys(prefix));
            Arc::new(move || {
                let (mut conn, keys, codec) = (conn.clone(), Arc::clone(&keys), codec.clone());
                Box::pin(async move {
                    // Built per call, as a caller of the redis crate would.
                    let pipe = read_pipeline(&keys);
                    let v: Vec<Vec<Option<Vec<u8>>>> = pipe.query_async(&mut conn).await.map_err(err)?;
                    decode_all(&codec, v.iter().flatten(), 100)
                })
            })
        }
        Kind::SetMultiMixed(policy) => {
            let keys = Arc::new(mixed_keys("bench:w:"));
            let script = Arc::new(redis::Script::new(dogpile_redis::HASH_WRITE_SCRIPT));
            script.load_async(&mut conn.clone()).await.map_err(err)?;
            Arc::new(move || {
                let (mut conn, keys, script) = (conn.clone(), Arc::clone(&keys), Arc::clone(&script));
                Box::pin(async move {
                    let (codec, now, value) = (Codec::default(), SystemClock.now(), small(1));
                    let items = keys
                        .iter()
                        .map(|k| codec.encode(&value, now).map(|bytes| (k.clone(), bytes)))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?;
                    let pipe = write_pipeline(&items, policy, &script);
                    pipe.query_async::<()>(&mut conn).await.map_err(err)
                })
            })
        }
        Kind::Document { write, .. } => super::compression::raw(url, write).await?,
        Kind::GetOrCreateHitSpread { keys, .. } => super::spread::raw(url, keys).await?,
    };
    Ok(op)
}

/// `kind` through a dogpile region.
async fn build_dogpile(kind: Kind, url: &str) -> Result<Op, String> {
    let raw_codec = Codec::new(Format::Msgpack, Envelope::Raw);
    let op: Op = match kind {
        Kind::GetHit => {
            let region = region(url, false, HashTtlPolicy::OnCreate, Codec::default())?;
            Arc::new(move || {
                let region = region.clone();
                Box::pin(async move {
                    let v: Option<Small> = region.get("bench:small").await.map_err(err)?;
                    v.map(drop).ok_or_else(|| "bench:small is missing".to_string())
                })
            })
        }
        Kind::Set => {
            let region = region(url, false, HashTtlPolicy::OnCreate, Codec::default())?;
            Arc::new(move || {
                let region = region.clone();
                Box::pin(async move { region.set("bench:set", &small(1)).await.map_err(err) })
            })
        }
        Kind::GetOrCreateHit => get_or_create_hit(region(url, false, HashTtlPolicy::OnCreate, Codec::default())?),
        Kind::GetOrCreateHitL1 => {
            let backend = super::l1::backend(url, TTL).await?;
            get_or_create_hit(Region::builder().backend(backend).build().map_err(err)?)
        }
        Kind::GetOrCreateHitTagged => {
            get_or_create_hit_at(region(url, false, HashTtlPolicy::OnCreate, Codec::default())?, "bench:tagged")
        }
        Kind::GetOrCreateMultiMisses { lock } => {
            let config = RedisConfig::from_url(url).redis_expiration_time(MISS_TTL).distributed_lock(lock);
            let region =
                Region::builder().backend(RedisAdvancedBackend::new(config).map_err(err)?).build().map_err(err)?;
            Arc::new(move || {
                let region = region.clone();
                Box::pin(async move {
                    let keys = keys_with_misses("dogpile");
                    let values: Vec<Small> = region
                        .get_or_create_multi(keys.iter().map(String::as_str), |missing: Vec<CacheKey>| async move {
                            Ok::<_, std::io::Error>(missing.iter().map(|_| small(1)).collect())
                        })
                        .await
                        .map_err(err)?;
                    (values.len() == keys.len()).then_some(()).ok_or_else(|| "missing values".to_string())
                })
            })
        }
        Kind::GetMultiPlain => {
            let region = region(url, false, HashTtlPolicy::OnCreate, Codec::default())?;
            let keys = Arc::new(plain_keys("bench:"));
            Arc::new(move || {
                let (region, keys) = (region.clone(), Arc::clone(&keys));
                Box::pin(async move {
                    let v: Vec<Option<Small>> = region.get_multi(keys.iter()).await.map_err(err)?;
                    v.iter().all(Option::is_some).then_some(()).ok_or_else(|| "missing keys".to_string())
                })
            })
        }
        Kind::GetMultiMixed | Kind::RawCodecGetMultiMixed => {
            let (prefix, codec) = match kind {
                Kind::RawCodecGetMultiMixed => ("bench:raw:", raw_codec),
                _ => ("bench:", Codec::default()),
            };
            let region = region(url, true, HashTtlPolicy::OnCreate, codec)?;
            let keys = Arc::new(mixed_keys(prefix));
            Arc::new(move || {
                let (region, keys) = (region.clone(), Arc::clone(&keys));
                Box::pin(async move {
                    let v: Vec<Option<Small>> = region.get_multi(keys.iter()).await.map_err(err)?;
                    v.iter().all(Option::is_some).then_some(()).ok_or_else(|| "missing keys".to_string())
                })
            })
        }
        Kind::SetMultiMixed(policy) => {
            let region = region(url, true, policy, Codec::default())?;
            let keys = Arc::new(mixed_keys("bench:w:"));
            let value = small(1);
            Arc::new(move || {
                let (region, keys, value) = (region.clone(), Arc::clone(&keys), value.clone());
                Box::pin(async move { region.set_multi(keys.iter().map(|k| (k, &value))).await.map_err(err) })
            })
        }
        Kind::Document { compression, write } => super::compression::dogpile(url, compression, write)?,
        Kind::GetOrCreateHitSpread { keys, in_flight } => super::spread::dogpile(url, keys, in_flight)?,
    };
    Ok(op)
}

/// Writes the values the read workloads expect.
async fn prepare(url: &str) -> Result<(), String> {
    let seed = region(url, true, HashTtlPolicy::OnCreate, Codec::default())?;
    seed.set("bench:small", &small(1)).await.map_err(err)?;
    let tags = dogpile::region::SetOptions::new().tags(["bench:user:1", "bench:team:1"]);
    seed.set_with("bench:tagged", &small(1), tags).await.map_err(err)?;
    let mut all = plain_keys("bench:");
    all.extend(mixed_keys("bench:"));
    seed.set_multi(all.iter().enumerate().map(|(i, k)| (k, small(i as u64)))).await.map_err(err)?;
    super::spread::prepare(&seed).await?;
    let raw = region(url, true, HashTtlPolicy::OnCreate, Codec::new(Format::Msgpack, Envelope::Raw))?;
    raw.set_multi(mixed_keys("bench:raw:").iter().enumerate().map(|(i, k)| (k, small(i as u64)))).await.map_err(err)?;
    super::compression::prepare(url).await
}

/// Round trips and bytes on the wire (both ways) per operation, through a counting proxy.
async fn round_trips(kind: Kind, layer: Layer, proxy: &CountingProxy, url: &str) -> Result<(f64, f64), String> {
    const N: usize = 20;
    let op = build(kind, layer, &with_addr(url, &proxy.addr_string())).await?;
    op().await?; // connects
    // Steady state: what a first call starts in the background (a tag store's subscription,
    // and the fetch it asks for once subscribed) is done before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    op().await?;
    proxy.reset();
    for _ in 0..N {
        op().await?;
    }
    Ok((proxy.round_trips() as f64 / N as f64, proxy.bytes() as f64 / N as f64))
}

/// `url` with its `host:port` replaced by `addr` (credentials and db kept).
fn with_addr(url: &str, addr: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), rest),
    };
    let path = hostpart.find('/').map_or("", |i| &hostpart[i..]);
    format!("{scheme}://{userinfo}{addr}{path}")
}

pub(super) async fn measure_all(args: &BenchArgs, target: &Target) -> Result<Vec<Row>, String> {
    prepare(&target.url).await?;
    let proxy = CountingProxy::start(target.addr().await?).await.map_err(|e| e.to_string())?;
    let mut admin = target.admin().await?;
    let selected: Vec<&Workload> =
        WORKLOADS.iter().filter(|w| args.only.as_deref().is_none_or(|only| w.name.contains(only))).collect();
    let mut rows = Vec::new();
    let progress = crate::progress::Progress::new(selected.len() as u64);
    for (n, workload) in selected.iter().enumerate() {
        progress.stage(&format!("[{}/{}] {}", n + 1, selected.len(), workload.name));
        let ops = [
            build(workload.kind, Layer::Raw, &target.url).await?,
            build(workload.kind, Layer::Dogpile, &target.url).await?,
        ];
        for op in &ops {
            op().await?; // connects, warms up
        }
        // The layers take turns in short rounds (raw first, then dogpile first, ...), so that
        // drift on a shared machine does not favour either.
        let mut totals = [
            (0u64, Latencies::default(), Duration::ZERO, 0u64, 0.0f64, Some(0.0f64)),
            (0, Latencies::default(), Duration::ZERO, 0, 0.0, Some(0.0)),
        ];
        let mut paired = crate::stats::PairedRatio::default();
        for round in 0..ROUNDS {
            let mut rates = [0.0; 2];
            for i in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let (before, cpu_before) = (command_total(&mut admin).await?, server_cpu(&mut admin).await?);
                let client_before = client_cpu();
                let (count, latencies, elapsed) =
                    throughput(&ops[i], workload.tasks, args.duration / ROUNDS as u32).await?;
                let commands = command_total(&mut admin).await?.saturating_sub(before);
                let client = client_cpu().zip(client_before).map(|(after, before)| after - before);
                let cpu = server_cpu(&mut admin).await? - cpu_before;
                rates[i] = count as f64 / elapsed.as_secs_f64();
                let total = &mut totals[i];
                total.0 += count;
                total.1.merge(latencies);
                total.2 += elapsed;
                total.3 += commands;
                total.4 += cpu;
                total.5 = total.5.zip(client).map(|(sum, part)| sum + part);
            }
            paired.record(rates[1], rates[0]);
        }
        for (i, (layer, label)) in [(Layer::Raw, "raw"), (Layer::Dogpile, "dogpile")].into_iter().enumerate() {
            let (count, latencies, elapsed, commands, cpu, client) = &mut totals[i];
            let ops_per_s = *count as f64 / elapsed.as_secs_f64();
            let (round_trips_per_op, bytes_per_op) = round_trips(workload.kind, layer, &proxy, &target.url).await?;
            rows.push(Row {
                workload: workload.name,
                layer: label,
                ops_per_s,
                keys_per_s: ops_per_s * workload.keys_per_op as f64,
                p50_us: latencies.percentile(50.0).as_secs_f64() * 1e6,
                p99_us: latencies.percentile(99.0).as_secs_f64() * 1e6,
                p999_us: latencies.percentile(99.9).as_secs_f64() * 1e6,
                max_us: latencies.max().as_secs_f64() * 1e6,
                round_trips_per_op,
                bytes_per_op,
                commands_per_op: *commands as f64 / (*count).max(1) as f64,
                server_cpu_ms_per_1000: Some(*cpu * 1e6 / (*count).max(1) as f64),
                client_cpu_ms_per_1000: client.map(|client| client * 1e6 / (*count).max(1) as f64),
                tasks: workload.tasks,
                keys_per_op: workload.keys_per_op,
                ratio_to_raw: None,
            });
        }
        if let Some(dogpile) = rows.last_mut() {
            dogpile.ratio_to_raw = paired.median();
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(rows)
}

pub(super) fn print_table(rows: &[Row], args: &BenchArgs, target: &Target) {
    println!(
        "dogpile bench: {} per workload and layer, against {}",
        crate::stats::human(args.duration),
        dogpile::config::redact_url(&target.url)
    );
    println!();
    println!(
        "| workload | layer | tasks | ops/s | keys/s | p50 µs | p99 µs | p99.9 µs | max µs | round trips/op | commands/op | bytes/op | server CPU ms/1000 ops | client CPU ms/1000 ops | dogpile/raw |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} |",
            row.workload,
            row.layer,
            row.tasks,
            thousands(row.ops_per_s.round() as u64),
            thousands(row.keys_per_s.round() as u64),
            row.p50_us,
            row.p99_us,
            row.p999_us,
            row.max_us,
            row.round_trips_per_op,
            row.commands_per_op,
            thousands(row.bytes_per_op.round() as u64),
            row.server_cpu_ms_per_1000.map_or_else(String::new, |ms| format!("{ms:.1}")),
            row.client_cpu_ms_per_1000.map_or_else(String::new, |ms| format!("{ms:.1}")),
            row.ratio_to_raw.map_or_else(String::new, |r| format!("{r:.2}x")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_addr_keeps_credentials_and_db() {
        assert_eq!(with_addr("redis://u:p@host:1/3", "127.0.0.1:9"), "redis://u:p@127.0.0.1:9/3");
        assert_eq!(with_addr("redis://host:1", "127.0.0.1:9"), "redis://127.0.0.1:9");
    }

    #[test]
    fn raw_pipelines_match_the_backend_layout() {
        let read = read_pipeline(&mixed_keys("b:"));
        assert_eq!(read.cmd_iter().count(), 11, "MGET and one HMGET per hash");
        let items: Vec<(CacheKey, Vec<u8>)> = mixed_keys("b:").into_iter().map(|k| (k, vec![1])).collect();
        let script = redis::Script::new(dogpile_redis::HASH_WRITE_SCRIPT);
        assert_eq!(write_pipeline(&items, HashTtlPolicy::OnCreate, &script).cmd_iter().count(), 50 + 10);
    }
}
