//! `dogpile bench --spawn-cluster`: dogpile on a private Redis Cluster of 3 primaries, side by
//! side with a raw twin on the redis crate's cluster client that builds the per-node pipelines
//! itself. Throughput is measured straight to the nodes; then a counting proxy is put in front
//! of every node (the nodes announce the proxies' ports), and the round trips of one operation
//! over all nodes are counted through them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dogpile::codec::Codec;
use dogpile::{CacheKey, Region};
use dogpile_redis::redis::cluster::ClusterClient;
use dogpile_redis::redis::cluster_async::ClusterConnection;
use dogpile_redis::redis::cluster_routing::SingleNodeRoutingInfo;
use dogpile_redis::redis::{self, AsyncCommands};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
use dogpile_servers::{CountingProxy, RedisCluster};

use super::harness::{Op, ROUNDS, Row, Small, decode_all, err, get_or_create_hit, raw_decode, small, throughput};
use crate::stats::{Latencies, PairedRatio, thousands};

struct Workload {
    name: &'static str,
    multi: bool,
    tasks: usize,
    /// Through a backend that coalesces reads.
    coalesce: bool,
}

const WORKLOADS: [Workload; 3] = [
    Workload { name: "cluster_get_multi_plain_100", multi: true, tasks: 1, coalesce: false },
    Workload { name: "cluster_get_or_create_hit_64_tasks", multi: false, tasks: 64, coalesce: false },
    Workload { name: "cluster_coalesced_get_or_create_hit_64_tasks", multi: false, tasks: 64, coalesce: true },
];

fn keys() -> Vec<String> {
    (0..100).map(|i| format!("bench:plain:{i}")).collect()
}

pub fn run(duration: Duration, json: bool) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let cluster = crate::target::start_private("a Redis Cluster", || RedisCluster::start(3, 0))?;
    let rows = runtime.block_on(measure(&cluster, duration))?;
    if json {
        let json = serde_json::json!({ "rows": rows, "duration_s": duration.as_secs_f64(), "primaries": 3 });
        println!("{}", serde_json::to_string_pretty(&json).map_err(err)?);
        return Ok(());
    }
    println!("dogpile bench on a private Redis Cluster of 3 primaries, {duration:?} per workload and layer");
    println!();
    println!(
        "{:<36} {:>8} {:>6} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>12} {:>11}",
        "workload",
        "layer",
        "tasks",
        "ops/s",
        "keys/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "round trips",
        "dogpile/raw"
    );
    for row in &rows {
        println!(
            "{:<36} {:>8} {:>6} {:>12} {:>12} {:>9.1} {:>9.1} {:>9.1} {:>9.0} {:>12.2} {:>11}",
            row.workload,
            row.layer,
            row.tasks,
            thousands(row.ops_per_s as u64),
            thousands(row.keys_per_s as u64),
            row.p50_us,
            row.p99_us,
            row.p999_us,
            row.max_us,
            row.round_trips_per_op,
            row.ratio_to_raw.map_or(String::new(), |r| format!("{r:.2}x")),
        );
    }
    Ok(())
}

/// The two layers of every workload, connected to `nodes`.
struct Layers {
    region: Region,
    /// The same, reads coalesced.
    coalesced: Region,
    raw: ClusterConnection,
    owners: Arc<Vec<(String, u16, u16)>>,
}

impl Layers {
    async fn connect(nodes: &[String]) -> Result<Self, String> {
        let region = |coalesce: bool| {
            let config = RedisConfig::new().cluster(nodes.to_vec()).coalesce_reads(coalesce);
            Region::builder().backend(RedisAdvancedBackend::new(config).map_err(err)?).build().map_err(err)
        };
        let (region, coalesced) = (region(false)?, region(true)?);
        let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{n}")).collect();
        let raw = ClusterClient::new(urls).map_err(err)?.get_async_connection().await.map_err(err)?;
        let owners = Arc::new(owners_of(&raw, &keys()).await?);
        Ok(Layers { region, coalesced, raw, owners })
    }

    fn ops(&self, workload: &Workload) -> [Op; 2] {
        let region = if workload.coalesce { &self.coalesced } else { &self.region };
        [raw_op(workload, &self.raw, &self.owners), dogpile_op(workload, region)]
    }
}

async fn measure(cluster: &RedisCluster, duration: Duration) -> Result<Vec<Row>, String> {
    // Throughput straight to the nodes.
    let direct: Vec<String> = cluster.nodes().iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
    let layers = Layers::connect(&direct).await?;
    layers.region.set("bench:small", &small(1)).await.map_err(err)?;
    layers
        .region
        .set_multi(keys().iter().enumerate().map(|(i, k)| (k.as_str(), small(i as u64))))
        .await
        .map_err(err)?;
    let mut measured = Vec::new();
    for workload in &WORKLOADS {
        let ops = layers.ops(workload);
        for op in &ops {
            op().await?;
        }
        let mut totals = [(0u64, Latencies::default(), Duration::ZERO), (0, Latencies::default(), Duration::ZERO)];
        let mut paired = PairedRatio::default();
        for round in 0..ROUNDS {
            let mut rates = [0.0; 2];
            for i in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let (count, latencies, elapsed) = throughput(&ops[i], workload.tasks, duration / ROUNDS as u32).await?;
                rates[i] = count as f64 / elapsed.as_secs_f64();
                totals[i].0 += count;
                totals[i].1.merge(latencies);
                totals[i].2 += elapsed;
            }
            paired.record(rates[1], rates[0]);
        }
        measured.push((totals, paired));
    }

    // Round trips through a counting proxy per node, which the nodes then announce.
    let proxies = cluster.counting_proxies().await.map_err(|e| e.to_string())?;
    let counted = Layers::connect(&proxies.iter().map(CountingProxy::addr_string).collect::<Vec<_>>()).await?;

    let mut rows = Vec::new();
    for (workload, (mut totals, paired)) in WORKLOADS.iter().zip(measured) {
        let ops = counted.ops(workload);
        for (i, label) in ["raw", "dogpile"].into_iter().enumerate() {
            const N: usize = 20;
            ops[i]().await?;
            proxies.iter().for_each(CountingProxy::reset);
            for _ in 0..N {
                ops[i]().await?;
            }
            let round_trips = proxies.iter().map(CountingProxy::round_trips).sum::<usize>() as f64 / N as f64;
            let bytes = proxies.iter().map(CountingProxy::bytes).sum::<usize>() as f64 / N as f64;
            let (count, latencies, elapsed) = &mut totals[i];
            let ops_per_s = *count as f64 / elapsed.as_secs_f64();
            let keys_per_op = if workload.multi { 100 } else { 1 };
            rows.push(Row {
                workload: workload.name,
                layer: label,
                ops_per_s,
                keys_per_s: ops_per_s * keys_per_op as f64,
                p50_us: latencies.percentile(50.0).as_secs_f64() * 1e6,
                p99_us: latencies.percentile(99.0).as_secs_f64() * 1e6,
                p999_us: latencies.percentile(99.9).as_secs_f64() * 1e6,
                max_us: latencies.max().as_secs_f64() * 1e6,
                round_trips_per_op: round_trips,
                commands_per_op: f64::NAN,
                bytes_per_op: bytes,
                server_cpu_ms_per_1000: None,
                client_cpu_ms_per_1000: None,
                tasks: workload.tasks,
                keys_per_op,
                ratio_to_raw: None,
            });
        }
        if let Some(dogpile) = rows.last_mut() {
            dogpile.ratio_to_raw = paired.median();
        }
    }
    Ok(rows)
}

/// The primary (`host`, `port`) and slot of each key, from `CLUSTER SLOTS` and `CLUSTER KEYSLOT`.
async fn owners_of(conn: &ClusterConnection, keys: &[String]) -> Result<Vec<(String, u16, u16)>, String> {
    let mut conn = conn.clone();
    let slots: Vec<(u16, u16, (String, u16))> = {
        let reply: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn).await.map_err(err)?;
        let redis::Value::Array(ranges) = reply else { return Err("CLUSTER SLOTS: not an array".into()) };
        ranges
            .iter()
            .filter_map(|range| {
                let redis::Value::Array(parts) = range else { return None };
                let (redis::Value::Int(a), redis::Value::Int(b), redis::Value::Array(primary)) =
                    (parts.first()?, parts.get(1)?, parts.get(2)?)
                else {
                    return None;
                };
                let host = match primary.first()? {
                    redis::Value::BulkString(h) => String::from_utf8_lossy(h).into_owned(),
                    _ => return None,
                };
                let redis::Value::Int(port) = primary.get(1)? else { return None };
                Some((*a as u16, *b as u16, (host, *port as u16)))
            })
            .collect()
    };
    let mut owners = Vec::new();
    for key in keys {
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query_async(&mut conn).await.map_err(err)?;
        let (_, _, (host, port)) = slots
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .ok_or_else(|| format!("no owner for slot {slot}"))?;
        owners.push((host.clone(), *port, slot));
    }
    Ok(owners)
}

/// The raw twin: one pipeline per node (an MGET per slot), sent concurrently, built per call as
/// a caller of the redis crate would; or one GET.
fn raw_op(workload: &Workload, conn: &ClusterConnection, owners: &Arc<Vec<(String, u16, u16)>>) -> Op {
    let conn = conn.clone();
    if !workload.multi {
        return Arc::new(move || {
            let mut conn = conn.clone();
            Box::pin(async move {
                let v: Option<Vec<u8>> = conn.get("bench:small").await.map_err(err)?;
                let bytes = v.ok_or_else(|| "bench:small is missing".to_string())?;
                raw_decode(&Codec::default(), &bytes).map(drop)
            })
        });
    }
    let keys = Arc::new(keys());
    let owners = Arc::clone(owners);
    Arc::new(move || {
        let (conn, keys, owners) = (conn.clone(), Arc::clone(&keys), Arc::clone(&owners));
        Box::pin(async move {
            let mut by_node: BTreeMap<(String, u16), BTreeMap<u16, Vec<&str>>> = BTreeMap::new();
            for (key, (host, port, slot)) in keys.iter().zip(owners.iter()) {
                by_node.entry((host.clone(), *port)).or_default().entry(*slot).or_default().push(key);
            }
            let sends = by_node.into_iter().map(|((host, port), slots)| {
                let mut conn = conn.clone();
                async move {
                    let mut pipe = redis::pipe();
                    for keys in slots.values() {
                        pipe.cmd("MGET").arg(keys);
                    }
                    let count = slots.len();
                    conn.route_pipeline(pipe, 0, count, SingleNodeRoutingInfo::ByAddress { host, port }).await
                }
            });
            let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(100);
            for replies in futures_util::future::join_all(sends).await {
                for reply in replies.map_err(err)? {
                    values.extend(redis::from_redis_value::<Vec<Option<Vec<u8>>>>(reply).map_err(err)?);
                }
            }
            decode_all(&Codec::default(), values.iter(), 100)
        })
    })
}

fn dogpile_op(workload: &Workload, region: &Region) -> Op {
    let region = region.clone();
    if !workload.multi {
        return get_or_create_hit(region);
    }
    let keys: Arc<Vec<CacheKey>> = Arc::new(keys().into_iter().map(CacheKey::from).collect());
    Arc::new(move || {
        let (region, keys) = (region.clone(), Arc::clone(&keys));
        Box::pin(async move {
            let values: Vec<Option<Small>> = region.get_multi(keys.iter()).await.map_err(err)?;
            values.iter().all(Option::is_some).then_some(()).ok_or_else(|| "missing keys".to_string())
        })
    })
}
