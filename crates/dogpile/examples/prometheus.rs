//! A region's metrics in Prometheus's text format: install the exporter's recorder first, then
//! build the regions, and serve what the handle renders at `/metrics` from your web server
//! (or let the exporter listen by itself: `PrometheusBuilder::new().with_http_listener(addr)`,
//! as `dogpile demo --metrics ADDR` does).
//!
//! Run with `cargo run -p dogpile --features metrics --example prometheus`.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any region: a region takes its metric handles from the recorder it is built under.
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let region = dogpile::Region::builder().name("users").expiration_time(Duration::from_secs(60)).build()?;
    for _ in 0..3 {
        let _: String = region
            .get_or_create("user:1", || async {
                tokio::time::sleep(Duration::from_millis(20)).await; // the expensive part
                Ok::<_, std::io::Error>("Ada".to_string())
            })
            .await?;
    }
    let _: Option<String> = region.get("user:2").await?;

    // What a scrape of /metrics would return.
    let text = prometheus.render();
    for line in text.lines().filter(|l| l.starts_with("dogpile_hits") || l.starts_with("dogpile_misses")) {
        println!("{line}");
    }
    assert!(text.contains(r#"dogpile_hits_total{region="users",backend="memory"} 2"#), "{text}");
    Ok(())
}
