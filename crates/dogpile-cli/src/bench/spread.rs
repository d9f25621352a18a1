//! The coalesced hit rows of `dogpile bench`: `get_or_create` hits through a backend that
//! coalesces reads (`coalesce_reads`), from one task (its latency) and from many at once, on
//! one key, spread over 1,000 keys or concentrated on 10 hot ones, against the raw twin
//! reading the same keys with `GET`: many callers, one key each, what the coalescer gathers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dogpile::codec::Codec;
use dogpile::{CacheKey, Region};
use dogpile_redis::redis::{self, AsyncCommands};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};

use super::harness::{Op, Small, err, raw_decode, small};

/// The key of the `n`th of the spread keys.
fn key(n: usize) -> String {
    format!("bench:spread:{n}")
}

/// The most keys a row spreads over.
const MOST: usize = 1000;

/// Writes the keys the rows read.
pub(super) async fn prepare(region: &Region) -> Result<(), String> {
    let keys: Vec<CacheKey> = (0..MOST).map(|n| CacheKey::from(key(n))).collect();
    region.set_multi(keys.iter().enumerate().map(|(n, k)| (k, small(n as u64)))).await.map_err(err)
}

/// The keys a row reads in turn, each call the next: `keys` of them.
fn rotation(keys: usize) -> (Arc<Vec<String>>, Arc<AtomicUsize>) {
    (Arc::new((0..keys.min(MOST)).map(key).collect()), Arc::new(AtomicUsize::new(0)))
}

/// `get_or_create` hits on `keys` keys in turn, reads coalesced, `in_flight` out at once.
pub(super) fn dogpile(url: &str, keys: usize, in_flight: usize) -> Result<Op, String> {
    let config = RedisConfig::from_url(url).coalesce_reads(true).coalesced_reads_in_flight(in_flight).map_err(err)?;
    let backend = RedisAdvancedBackend::new(config).map_err(err)?;
    let region = Region::builder().backend(backend).build().map_err(err)?;
    let (keys, next) = rotation(keys);
    Ok(Arc::new(move || {
        let (region, keys, next) = (region.clone(), Arc::clone(&keys), Arc::clone(&next));
        Box::pin(async move {
            let key = &keys[next.fetch_add(1, Ordering::Relaxed) % keys.len()];
            let _: Small = region
                .get_or_create(key.as_str(), || async { Err::<Small, _>("a hit must not create") })
                .await
                .map_err(err)?;
            Ok(())
        })
    }))
}

/// The raw twin: `GET` of the same keys in turn, decoded.
pub(super) async fn raw(url: &str, keys: usize) -> Result<Op, String> {
    let client = redis::Client::open(url).map_err(err)?;
    let conn = client.get_connection_manager().await.map_err(err)?;
    let (keys, next) = rotation(keys);
    Ok(Arc::new(move || {
        let (mut conn, keys, next) = (conn.clone(), Arc::clone(&keys), Arc::clone(&next));
        Box::pin(async move {
            let key = &keys[next.fetch_add(1, Ordering::Relaxed) % keys.len()];
            let bytes: Option<Vec<u8>> = conn.get(key).await.map_err(err)?;
            let bytes = bytes.ok_or_else(|| format!("{key} is missing"))?;
            raw_decode(&Codec::default(), &bytes).map(drop)
        })
    }))
}
