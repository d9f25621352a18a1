//! Times every corpus input through its target and prints, per target, the number of inputs,
//! the slowest one and its time (the best of three runs), for the claim that no input takes
//! more than 10 ms. Run by `scripts/fuzz slowest` in a release build.

use std::path::Path;
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, check) in dogpile_fuzz::TARGETS {
        let mut slowest = (Duration::ZERO, String::new());
        let mut inputs = 0;
        for entry in std::fs::read_dir(root.join(target))? {
            let path = entry?.path();
            let data = std::fs::read(&path)?;
            let took = (0..3)
                .map(|_| {
                    let start = Instant::now();
                    check(&data);
                    start.elapsed()
                })
                .min()
                .unwrap_or_default();
            inputs += 1;
            if took > slowest.0 {
                slowest = (took, path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            }
        }
        println!("{target:>7}: {inputs:>5} inputs, slowest {:>9.3} ms ({})", slowest.0.as_secs_f64() * 1e3, slowest.1);
    }
    Ok(())
}
