use serde::{Deserialize, Serialize};
use std::time::Duration;
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Small {
    id: u64,
    name: String,
    score: f64,
}
fn small() -> Small {
    Small { id: 42, name: "a small cached row".into(), score: 0.5 }
}
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let l1 = std::env::args().nth(2).is_some();
    let builder = dogpile::Region::builder().expiration_time(Duration::from_secs(3600));
    let builder = if l1 {
        builder.backend(
            dogpile::backend::L1Backend::builder().capacity(1000).build(dogpile::backend::MemoryBackend::default()),
        )
    } else {
        builder
    };
    let region = builder.build().unwrap();
    rt.block_on(async {
        region.set("hot", &small()).await.unwrap();
        for _ in 0..n {
            let v: Small = region.get_or_create("hot", || async { Ok::<_, std::io::Error>(small()) }).await.unwrap();
            std::hint::black_box(v);
        }
    });
}
