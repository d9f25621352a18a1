//! Adds to the `decode` corpus each of its inputs that a known layout reads, compressed with
//! zstd and with LZ4 (as a region with `compression` stores it), so that the replay and the
//! campaigns start from compressed entries too. Run by `scripts/fuzz seed`, after the Python
//! seeds.

use std::path::Path;

use dogpile::codec::{Compression, Compressor, Value, known_layouts};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join("decode");
    let layouts = known_layouts();
    let mut written = 0;
    for entry in std::fs::read_dir(&dir)? {
        let data = std::fs::read(entry?.path())?;
        let readable = layouts.iter().any(|layout| layout.codec.decode::<Value>(&data, 0.0).is_ok());
        if !readable || Compressor::compressed_with(&data).is_some() || data.len() < 32 {
            continue;
        }
        for algorithm in [Compression::Zstd, Compression::Lz4] {
            let stored = Compressor::new(Some(algorithm)).compress_above(0).compress(data.clone());
            if Compressor::compressed_with(&stored).is_some() {
                let name = sha1_smol::Sha1::from(&stored).digest().to_string();
                std::fs::write(dir.join(name), &stored)?;
                written += 1;
            }
        }
    }
    println!("{written} compressed seeds in {}", dir.display());
    Ok(())
}
