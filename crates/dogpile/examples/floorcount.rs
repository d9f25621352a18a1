use dogpile::backend::{Backend, MemoryBackend};
use serde::{Deserialize, Serialize};
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
    let store = MemoryBackend::default();
    let codec = dogpile::codec::Codec::default();
    let region = dogpile::Region::builder().backend(store.clone()).build().unwrap();
    rt.block_on(async {
        region.set("hot", &small()).await.unwrap();
        let key = dogpile::CacheKey::from("hot");
        for _ in 0..n {
            let bytes = store.get_ready(std::hint::black_box(key.as_key_ref())).unwrap().unwrap().unwrap();
            std::hint::black_box(codec.decode::<Small>(&bytes, 0.0).unwrap());
        }
    });
}
