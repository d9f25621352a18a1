//! The second data set of `dogpile memory-report`: JSON-like documents of 2 to 20 KiB (API
//! responses, rendered fragments, ORM row sets), stored as they are and compressed.

use dogpile::codec::{Codec, Compression, Compressor, Envelope, Format};
use dogpile::{CacheKey, Region};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig, redis};
use serde_json::{Value, json};

use super::{BATCH, Row, TTL};
use crate::target::{Target, used_memory};

/// The documents at `scale` (20,000 at scale 1): sizes spread evenly from 2 to 20 KiB.
pub(super) fn documents(scale: f64) -> Vec<(String, Value)> {
    let count = (20_000.0 * scale).round().max(1.0) as u64;
    (0..count).map(|n| (format!("doc|{n}"), document(n, 2048 + (n * 7919 % 18_433) as usize))).collect()
}

/// Document `n`, of about `bytes` as JSON: a page of customer records.
fn document(n: u64, bytes: usize) -> Value {
    let mut items = Vec::new();
    // As compact JSON: the page's own bytes, then each item and its comma.
    let mut size = json!({ "page": n, "items": [] }).to_string().len() - 1;
    let mut i = 0u64;
    while size < bytes {
        let id = n * 1000 + i;
        let item = json!({
            "id": id,
            "name": format!("customer {}", id * 31 % 977),
            "email": format!("c{id}@example.com"),
            "active": id.is_multiple_of(3),
            "score": id * 7919 % 1000,
            "tags": ["retail", if id.is_multiple_of(2) { "eu" } else { "us" }],
        });
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    json!({ "page": n, "items": items })
}

/// The document layouts measured: dogpile 1.x's JSON entry as it is, and compressed.
fn codecs() -> Vec<(&'static str, Codec)> {
    let plain = Codec::new(Format::Json, Envelope::Dogpile1);
    let compressed = |algorithm| plain.clone().with_compressor(Compressor::new(Some(algorithm)));
    vec![
        ("documents, dogpile 1.x JSON entry", plain.clone()),
        ("documents, dogpile 1.x JSON entry, zstd", compressed(Compression::Zstd)),
        ("documents, dogpile 1.x JSON entry, lz4", compressed(Compression::Lz4)),
    ]
}

/// One row per layout: what the documents take in Redis, with a Redis TTL.
pub(super) async fn measure(
    scale: f64,
    target: &Target,
    admin: &mut redis::aio::MultiplexedConnection,
) -> Result<Vec<Row>, String> {
    let data = documents(scale);
    let mut rows: Vec<Row> = Vec::new();
    for (name, codec) in codecs() {
        redis::cmd("FLUSHDB").arg("SYNC").query_async::<()>(&mut *admin).await.map_err(|e| e.to_string())?;
        let empty = used_memory(admin).await?;
        let config = RedisConfig::from_url(&target.url).redis_expiration_time(TTL);
        let backend = RedisAdvancedBackend::connect(config).await.map_err(|e| e.to_string())?;
        let region = Region::builder().backend(backend).codec(codec).build().map_err(|e| e.to_string())?;
        for batch in data.chunks(BATCH) {
            let items = batch.iter().map(|(key, value)| (CacheKey::from(key.as_str()), value));
            region.set_multi(items).await.map_err(|e| e.to_string())?;
        }
        let used = used_memory(admin).await?;
        let net = used.saturating_sub(empty) as f64;
        let first = rows.first().map_or(net, |r| r.bytes_per_value * r.values as f64);
        rows.push(Row {
            strategy: name,
            redis_ttl: true,
            expiry_in_dogpile: true,
            values: data.len(),
            used_memory: used,
            bytes_per_value: net / data.len() as f64,
            percent_of_first: 100.0 * net / first.max(1.0),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_2_to_20_kib_of_json() {
        let docs = documents(0.01);
        assert_eq!(docs.len(), 200);
        let sizes: Vec<usize> = docs.iter().map(|(_, d)| d.to_string().len()).collect();
        assert!(sizes.iter().all(|&s| (2048..=21_000).contains(&s)), "{sizes:?}");
        assert!(sizes.iter().any(|&s| s < 4096) && sizes.iter().any(|&s| s > 16_384), "{sizes:?}");
    }
}
