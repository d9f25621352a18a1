//! The L1 rows of `dogpile bench`: the delay from a write by another client to the eviction
//! of the L1's entry.

use std::time::{Duration, Instant};

use dogpile::CacheKey;
use dogpile::backend::{Backend, L1Backend};
use dogpile_redis::redis::{self, AsyncCommands};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
use serde::Serialize;

use super::harness::err;
use crate::stats::Latencies;

/// How many foreign writes the delay is measured over.
const WRITES: usize = 200;
/// How long one eviction may take before the run gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// Percentiles of the delay from issuing a foreign write to the L1 dropping its entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EvictionDelay {
    pub(crate) writes: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

/// An L1 over the plain backend at `url`, for `bench:` keys, once its key tracking is on.
pub(crate) async fn backend(url: &str, ttl: Duration) -> Result<L1Backend<RedisAdvancedBackend>, String> {
    let redis = RedisAdvancedBackend::new(RedisConfig::from_url(url).redis_expiration_time(ttl)).map_err(err)?;
    let l1 = redis.with_l1(L1Backend::builder().capacity(10_000).prefixes(["bench:"])).map_err(err)?;
    l1.ready().await.map_err(err)?;
    Ok(l1)
}

/// Holds `bench:l1:delay` in an L1, has another connection SET it, and times until the L1
/// no longer answers for it; [`WRITES`] times.
pub(crate) async fn eviction_delay(url: &str) -> Result<EvictionDelay, String> {
    let l1 = backend(url, Duration::from_secs(3600)).await?;
    let mut writer = redis::Client::open(url).map_err(err)?.get_multiplexed_async_connection().await.map_err(err)?;
    let key = CacheKey::from("bench:l1:delay");
    let mut delays = Latencies::default();
    for i in 0..WRITES {
        writer.set::<_, _, ()>("bench:l1:delay", i).await.map_err(err)?;
        held(&l1, &key).await?;
        let issued = Instant::now();
        writer.set::<_, _, ()>("bench:l1:delay", i + WRITES).await.map_err(err)?;
        while l1.get_ready(key.as_key_ref()).is_some() {
            if issued.elapsed() > PATIENCE {
                return Err(format!("the L1 still held its entry {PATIENCE:?} after a foreign write"));
            }
            tokio::task::yield_now().await;
        }
        delays.record(issued.elapsed());
    }
    Ok(EvictionDelay {
        writes: WRITES,
        p50_us: delays.percentile(50.0).as_secs_f64() * 1e6,
        p99_us: delays.percentile(99.0).as_secs_f64() * 1e6,
    })
}

/// Reads `key` until the L1 answers for it (the invalidation of the write before may still
/// be on its way).
async fn held(l1: &L1Backend<RedisAdvancedBackend>, key: &CacheKey) -> Result<(), String> {
    let start = Instant::now();
    while l1.get_ready(key.as_key_ref()).is_none() {
        if start.elapsed() > PATIENCE {
            return Err("the L1 never held the key".into());
        }
        l1.get(key).await.map_err(err)?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}
