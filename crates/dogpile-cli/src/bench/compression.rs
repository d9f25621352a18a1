//! The compression rows of `dogpile bench`: a 10 KiB JSON-like document read and written
//! through a region that compresses it (zstd or LZ4), against the raw twin, which stores the
//! same dogpile 1.x JSON entry uncompressed.

use std::sync::Arc;

use dogpile::codec::{Codec, Compression, Compressor, Envelope, Format};
use dogpile::{Clock, Region, SystemClock};
use dogpile_redis::redis::{self, AsyncCommands};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
use serde_json::{Value, json};

use super::harness::{Op, err};

/// The key the read rows read (one per compression, so each layer reads its own entry).
fn key(compression: Option<Compression>) -> String {
    format!("bench:doc:{}", compression.map_or("none", Compression::name))
}

/// A JSON-like document of about 10 KiB: a page of customer records.
pub(super) fn document() -> Value {
    let items: Vec<Value> = (0..95u64)
        .map(|id| {
            json!({
                "id": id,
                "name": format!("customer {}", id * 31 % 977),
                "email": format!("c{id}@example.com"),
                "active": id.is_multiple_of(3),
                "score": id * 7919 % 1000,
            })
        })
        .collect();
    json!({ "page": 1, "items": items })
}

fn codec(compression: Option<Compression>) -> Codec {
    Codec::new(Format::Json, Envelope::Dogpile1).with_compressor(Compressor::new(compression))
}

fn region(url: &str, compression: Option<Compression>) -> Result<Region, String> {
    let backend = RedisAdvancedBackend::new(RedisConfig::from_url(url)).map_err(err)?;
    Region::builder().backend(backend).codec(codec(compression)).build().map_err(err)
}

/// Stores the documents the read rows read: uncompressed for the raw twin, and compressed.
pub(super) async fn prepare(url: &str) -> Result<(), String> {
    for compression in [None, Some(Compression::Zstd), Some(Compression::Lz4)] {
        region(url, compression)?.set(key(compression).as_str(), &document()).await.map_err(err)?;
    }
    Ok(())
}

/// Reads (or, with `write`, writes) the document through a region compressing it with
/// `compression`.
pub(super) fn dogpile(url: &str, compression: Compression, write: bool) -> Result<Op, String> {
    let (region, document) = (region(url, Some(compression))?, Arc::new(document()));
    let key = Arc::new(if write { format!("bench:doc:set:{}", compression.name()) } else { key(Some(compression)) });
    Ok(Arc::new(move || {
        let (region, document, key) = (region.clone(), Arc::clone(&document), Arc::clone(&key));
        Box::pin(async move {
            if write {
                return region.set(key.as_str(), document.as_ref()).await.map_err(err);
            }
            let found: Option<Value> = region.get(key.as_str()).await.map_err(err)?;
            found.map(drop).ok_or_else(|| format!("{key} is missing"))
        })
    }))
}

/// The raw twin: the same entry, uncompressed, with the `redis` crate and the codec.
pub(super) async fn raw(url: &str, write: bool) -> Result<Op, String> {
    let client = redis::Client::open(url).map_err(err)?;
    let conn = client.get_connection_manager().await.map_err(err)?;
    let document = Arc::new(document());
    Ok(Arc::new(move || {
        let (mut conn, document) = (conn.clone(), Arc::clone(&document));
        Box::pin(async move {
            let codec = codec(None);
            if write {
                let bytes = codec.encode(document.as_ref(), SystemClock.now()).map_err(err)?;
                return conn.set::<_, _, ()>("bench:doc:set:raw", bytes).await.map_err(err);
            }
            let bytes: Option<Vec<u8>> = conn.get(key(None)).await.map_err(err)?;
            let bytes = bytes.ok_or_else(|| format!("{} is missing", key(None)))?;
            codec.decode::<Value>(&bytes, 0.0).map(drop).map_err(err)
        })
    }))
}
