//! The blocking facade: a read-through cache for synchronous code.
//!
//! Run with `cargo run -p dogpile --example basics_blocking --features blocking`.

use std::time::Duration;

use dogpile::blocking::Region;

fn load_user(id: u32) -> Result<String, std::io::Error> {
    std::thread::sleep(Duration::from_millis(50)); // the expensive part
    Ok(format!("user-{id}"))
}

fn main() -> dogpile::Result<()> {
    let region = Region::builder().with_inner(|b| b.expiration_time(Duration::from_secs(60))).build()?;
    for _ in 0..3 {
        let user: String = region.get_or_create("user:7", || load_user(7))?;
        println!("{user}");
    }
    println!("{:?}", region.stats());
    Ok(())
}
