//! The tag rows of `dogpile bench`: the delay from `invalidate_tags` in one region to the
//! first miss in another region with its own connections (another process, as far as Redis
//! can tell).

use std::time::{Duration, Instant};

use dogpile::Region;
use dogpile::region::SetOptions;
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};

use super::harness::err;
use super::l1::EvictionDelay;
use crate::stats::Latencies;

/// How many invalidations the delay is measured over.
const INVALIDATIONS: usize = 200;
/// How long one invalidation may take to arrive before the run gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// A region over a backend of its own at `url`.
fn region(url: &str) -> Result<Region, String> {
    let backend = RedisAdvancedBackend::new(RedisConfig::from_url(url)).map_err(err)?;
    Region::builder().backend(backend).build().map_err(err)
}

/// The value of `bench:tags:delay` with the tag `bench:tag`, written by one region and read
/// by another, which has met the tag; times from issuing `invalidate_tags` in the first until
/// the second reads a miss, [`INVALIDATIONS`] times.
pub(crate) async fn invalidation_delay(url: &str) -> Result<EvictionDelay, String> {
    let (writer, reader) = (region(url)?, region(url)?);
    let mut delays = Latencies::default();
    for i in 0..INVALIDATIONS {
        writer.set_with("bench:tags:delay", &(i as u64), SetOptions::new().tags(["bench:tag"])).await.map_err(err)?;
        let start = Instant::now();
        while reader.get::<u64>("bench:tags:delay").await.map_err(err)?.is_none() {
            if start.elapsed() > PATIENCE {
                return Err("the reader never read the tagged value".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let issued = Instant::now();
        writer.invalidate_tags(["bench:tag"], true).await.map_err(err)?;
        while reader.get::<u64>("bench:tags:delay").await.map_err(err)?.is_some() {
            if issued.elapsed() > PATIENCE {
                return Err(format!("the reader still read the value {PATIENCE:?} after invalidate_tags"));
            }
        }
        delays.record(issued.elapsed());
    }
    Ok(EvictionDelay {
        writes: INVALIDATIONS,
        p50_us: delays.percentile(50.0).as_secs_f64() * 1e6,
        p99_us: delays.percentile(99.0).as_secs_f64() * 1e6,
    })
}
