use dogpile::Region;
use dogpile::backend::{L1Backend, MemoryBackend};
#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Small {
    id: u64,
    name: String,
    score: f64,
}
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let which = std::env::args().nth(2).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let region = match which.as_str() {
            "l1" => Region::builder().backend(L1Backend::builder().build(MemoryBackend::default())).build().unwrap(),
            _ => Region::builder().backend(MemoryBackend::default()).build().unwrap(),
        };
        region.set("bench:small", &Small { id: 1, name: "row 1".into(), score: 0.5 }).await.unwrap();
        let t = std::time::Instant::now();
        for _ in 0..n {
            let v: Small = region
                .get_or_create("bench:small", || async { Err::<Small, _>(std::io::Error::other("x")) })
                .await
                .unwrap();
            std::hint::black_box(v);
        }
        eprintln!("{which}: {:.0} ns/hit", t.elapsed().as_nanos() as f64 / n as f64);
    });
}
