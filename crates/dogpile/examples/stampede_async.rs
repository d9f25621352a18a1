//! A small stampede: 500 tasks ask for one missing key at once; the creator runs once.
//!
//! Run with `cargo run -p dogpile --example stampede_async`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dogpile::Region;

#[tokio::main]
async fn main() -> dogpile::Result<()> {
    let region = Region::builder().expiration_time(Duration::from_secs(60)).build()?;
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let (region, runs) = (region.clone(), runs.clone());
            tokio::spawn(async move {
                region
                    .get_or_create("report", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, std::io::Error>("the report".to_string())
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        let _report: String = task.await.map_err(|e| dogpile::Error::config("task", e.to_string()))??;
    }
    println!("500 callers, {} creator run(s); {:?}", runs.load(Ordering::SeqCst), region.stats());
    Ok(())
}
