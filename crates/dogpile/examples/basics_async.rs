//! The basics: read-through caching, multi-key reads, function caching.
//!
//! Run with `cargo run -p dogpile --example basics_async`.

use std::time::Duration;

use dogpile::{CacheKey, Region};

#[tokio::main(flavor = "current_thread")]
async fn main() -> dogpile::Result<()> {
    let region = Region::builder().name("example").expiration_time(Duration::from_secs(60)).build()?;

    let name: String = region
        .get_or_create("user:1", || async {
            tokio::time::sleep(Duration::from_millis(50)).await; // the expensive part
            Ok::<_, std::io::Error>("Ada".to_string())
        })
        .await?;
    println!("user:1 = {name}");

    let names: Vec<String> = region
        .get_or_create_multi(["user:1", "user:2", "user:3"], |missing: Vec<CacheKey>| async move {
            println!("creating {missing:?}");
            Ok::<_, std::io::Error>(missing.iter().map(|k| format!("name of {k}")).collect())
        })
        .await?;
    println!("{names:?}");

    let square =
        region.cache_on_arguments("example:square", |(n,): (u64,)| async move { Ok::<_, std::io::Error>(n * n) });
    println!("12² = {}", square.call((12,)).await?);
    println!("{:?}", region.stats());
    Ok(())
}
