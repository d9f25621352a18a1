//! `dogpile inspect`: what is stored at a key, or a summary of many keys, read-only.
//!
//! The format is found by decoding the bytes with each layout dogpile-rs and the Python
//! deployments write, most specific first; the first that reads the bytes whole names the
//! format, and any other that also reads them is listed.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use dogpile::codec::{Codec, Compression, Compressor, Value, known_layouts};
use dogpile::config::redact_url;
use dogpile_redis::redis;

/// `dogpile inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The Redis to read (nothing is written)
    #[arg(long)]
    url: String,
    /// The key to show (with --field, the hash's name)
    #[arg(required_unless_present = "scan")]
    key: Option<String>,
    /// A field of the hash KEY (a `(name, field)` key of the hstore backends)
    #[arg(long)]
    field: Option<String>,
    /// The prefix of the lock names (`_lock`; plugin 0.5.0's `_lok.`)
    #[arg(long, default_value = "_lock")]
    lock_prefix: String,
    /// Summarize the keys matching this pattern (SCAN MATCH) by format and size instead
    #[arg(long, conflicts_with_all = ["key", "field"])]
    scan: Option<String>,
    /// With --scan: at most this many keys
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

/// What the bytes hold, as read.
#[derive(Debug)]
pub struct Reading {
    /// The layout that reads them, and the others that also do.
    pub format: &'static str,
    pub also: Vec<&'static str>,
    pub value: Value,
    /// Creation time (seconds since the epoch), when the layout keeps one.
    pub ct: Option<f64>,
    /// The entry's tags (see `Region::invalidate_tags`).
    pub tags: Vec<String>,
    /// How the entry is compressed, with its length decompressed, when it is.
    pub compressed: Option<(Compression, usize)>,
}

/// What `bytes` hold: `Err` with why no layout reads them.
pub fn read(bytes: &[u8]) -> Result<Reading, String> {
    let now = now();
    let mut found: Option<Reading> = None;
    for layout in known_layouts() {
        match layout.codec.decode::<Value>(bytes, now) {
            Ok(decoded) => match &mut found {
                Some(reading) => reading.also.push(layout.name),
                None => {
                    let ct = layout.keeps_creation_time().then_some(decoded.metadata.ct);
                    let (value, tags) = (decoded.payload, decoded.metadata.tags);
                    found = Some(Reading { format: layout.name, also: Vec::new(), value, ct, tags, compressed: None });
                }
            },
            Err(err) if Codec::is_no_value(&err) && found.is_none() => {
                return Err("plugin 0.5.0's NO_VALUE marker (a miss)".into());
            }
            Err(_) => {}
        }
    }
    let mut reading = found.ok_or_else(|| format!("no known format reads these {} bytes", bytes.len()))?;
    if let Some(algorithm) = Compressor::compressed_with(bytes) {
        let entry = Compressor::default().decompress(bytes).map_err(|e| e.to_string())?;
        reading.compressed = Some((algorithm, entry.len()));
    }
    Ok(reading)
}

/// What the fleet's record of `tag` says of an entry created at `ct`.
async fn tag_state(conn: &mut Conn, tag: &str, ct: Option<f64>) -> Result<String, String> {
    let record: Option<String> = query(conn, redis::cmd("GET").arg(format!("{{dogpile:tags}}:{tag}"))).await?;
    let Some(stamp) = record.as_deref().and_then(dogpile::backend::TagStamp::decode) else {
        return Ok("not invalidated".into());
    };
    let kind = if stamp.hard { "hard" } else { "soft" };
    let verdict = match ct {
        Some(ct) if ct < stamp.at => "after this entry was written: it is invalidated",
        _ => "before this entry was written",
    };
    Ok(format!("invalidated ({kind}) {:.1} s ago, {verdict}", now() - stamp.at))
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

pub fn run(args: InspectArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let shown = redact_url(&args.url);
        let client = redis::Client::open(args.url.as_str()).map_err(|_| format!("{shown} is not a Redis URL"))?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to {shown}: {}", e.kind_text()))?;
        let report = match (&args.scan, &args.key) {
            (Some(pattern), _) => scan(&mut conn, pattern, args.limit, &args.lock_prefix).await,
            (None, Some(key)) => inspect(&mut conn, key, args.field.as_deref(), &args.lock_prefix).await,
            (None, None) => Err("give a KEY or --scan PATTERN".to_owned()),
        }?;
        print!("{report}");
        Ok(())
    })
}

trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for redis::RedisError {
    /// The error without the URL it may quote.
    fn kind_text(&self) -> String {
        format!("{:?}{}", self.kind(), self.detail().map(|d| format!(": {d}")).unwrap_or_default())
    }
}

type Conn = redis::aio::MultiplexedConnection;

async fn query<T: redis::FromRedisValue>(conn: &mut Conn, cmd: &redis::Cmd) -> Result<T, String> {
    cmd.query_async(conn).await.map_err(|e| e.kind_text())
}

fn seconds(ms: i64) -> String {
    match ms {
        -2 => "no key".into(),
        -1 => "none (no expiry)".into(),
        ms => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// The report on one key (or one field of a hash).
async fn inspect(conn: &mut Conn, key: &str, field: Option<&str>, lock_prefix: &str) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::new();
    let kind: String = query(conn, redis::cmd("TYPE").arg(key)).await?;
    let shown = match field {
        Some(field) => format!("{key} field {field}"),
        None => key.to_owned(),
    };
    let _ = writeln!(out, "key:        {shown}");
    let bytes: Option<Vec<u8>> = match (kind.as_str(), field) {
        ("none", _) => None,
        ("string", None) => query(conn, redis::cmd("GET").arg(key)).await?,
        ("hash", Some(field)) => query(conn, redis::cmd("HGET").arg(key).arg(field)).await?,
        ("hash", None) => {
            let fields: i64 = query(conn, redis::cmd("HLEN").arg(key)).await?;
            let _ = writeln!(out, "stored:     a hash of {fields} fields (give --field F to see one)");
            None
        }
        (other, _) => {
            let _ = writeln!(out, "stored:     a Redis {other}, not a cache entry");
            None
        }
    };
    match &bytes {
        None if kind == "none" || (kind == "hash" && field.is_some()) => {
            let _ = writeln!(out, "stored:     nothing");
        }
        None => {}
        Some(bytes) => {
            let _ = writeln!(out, "stored:     {} bytes", bytes.len());
            match read(bytes) {
                Ok(reading) => {
                    let _ = writeln!(out, "format:     {}", reading.format);
                    if let Some((algorithm, length)) = reading.compressed {
                        let _ = writeln!(out, "compressed: {}, {length} bytes once decompressed", algorithm.name());
                    }
                    if !reading.also.is_empty() {
                        let _ = writeln!(out, "also reads: {}", reading.also.join("; "));
                    }
                    let json = serde_json::to_string(&reading.value).map_err(|e| e.to_string())?;
                    let _ = writeln!(out, "value:      {json}");
                    match reading.ct {
                        Some(ct) => {
                            let _ = writeln!(out, "created:    {ct:.3} (unix time), {:.1} s ago", now() - ct);
                        }
                        None => {
                            let _ = writeln!(out, "created:    not kept by this format (expiry is Redis's)");
                        }
                    }
                    for tag in &reading.tags {
                        let _ = writeln!(out, "tag:        {tag}: {}", tag_state(conn, tag, reading.ct).await?);
                    }
                }
                Err(why) => {
                    let _ = writeln!(out, "format:     unknown: {why}");
                }
            }
        }
    }
    let ttl: i64 = query(conn, redis::cmd("PTTL").arg(key)).await?;
    let _ = writeln!(out, "redis ttl:  {}", seconds(ttl));
    let lock = match field {
        Some(field) => format!("{lock_prefix}{key},{field}"),
        None => format!("{lock_prefix}{key}"),
    };
    let token: Option<String> = query(conn, redis::cmd("GET").arg(&lock)).await?;
    match token {
        Some(token) => {
            let ttl: i64 = query(conn, redis::cmd("PTTL").arg(&lock)).await?;
            let _ = writeln!(out, "lock:       {lock} held, token {token}, ttl {}", seconds(ttl));
        }
        None => {
            let _ = writeln!(out, "lock:       {lock} free");
        }
    }
    Ok(out)
}

/// Entries and bytes per format over the keys matching `pattern` (each hash field counts as
/// an entry; the keys named with `lock_prefix` count as locks).
async fn scan(conn: &mut Conn, pattern: &str, limit: usize, lock_prefix: &str) -> Result<String, String> {
    use std::fmt::Write;
    let mut by_format: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut count = |format: String, size: usize| {
        let entry = by_format.entry(format).or_default();
        entry.0 += 1;
        entry.1 += size as u64;
    };
    let mut keys_seen = 0usize;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) =
            query(conn, redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(200)).await?;
        for key in keys {
            if keys_seen == limit {
                break;
            }
            keys_seen += 1;
            if !lock_prefix.is_empty() && key.starts_with(lock_prefix) {
                count("(a lock)".to_owned(), 0);
                continue;
            }
            let kind: String = query(conn, redis::cmd("TYPE").arg(&key)).await?;
            match kind.as_str() {
                "string" => {
                    let bytes: Option<Vec<u8>> = query(conn, redis::cmd("GET").arg(&key)).await?;
                    if let Some(bytes) = bytes {
                        count(label(&bytes), bytes.len());
                    }
                }
                "hash" => {
                    let fields: Vec<(Vec<u8>, Vec<u8>)> = query(conn, redis::cmd("HGETALL").arg(&key)).await?;
                    for (_, bytes) in fields {
                        count(label(&bytes), bytes.len());
                    }
                }
                other => count(format!("(a Redis {other})"), 0),
            }
        }
        cursor = next;
        if cursor == 0 || keys_seen == limit {
            break;
        }
    }
    let mut out = String::new();
    let _ =
        writeln!(out, "{keys_seen} keys matching {pattern:?}{}", if keys_seen == limit { " (the limit)" } else { "" });
    let _ = writeln!(out, "{:<58} {:>9} {:>12}", "format", "entries", "bytes");
    for (format, (entries, bytes)) in &by_format {
        let _ = writeln!(out, "{format:<58} {entries:>9} {bytes:>12}");
    }
    Ok(out)
}

fn label(bytes: &[u8]) -> String {
    dogpile::codec::detect(bytes).unwrap_or("(unknown)").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dogpile::codec::Compat;

    fn sample() -> Value {
        Value::Dict(vec![(Value::from("name"), Value::from("Ada")), (Value::from("n"), Value::from(42))])
    }

    #[test]
    fn a_compressed_entry_is_read_and_said_to_be() {
        for algorithm in [Compression::Zstd, Compression::Lz4] {
            let compressor = Compressor::new(Some(algorithm)).compress_above(16);
            let codec = Compat::Dogpile1.codec().with_compressor(compressor);
            let value = Value::from("a long text, ".repeat(100));
            let bytes = codec.encode(&value, 1_700_000_000.5).unwrap();
            let reading = read(&bytes).unwrap();
            assert!(reading.format.starts_with("dogpile 1.x, pickle"), "{reading:?}");
            assert_eq!(reading.value, value);
            let plain = Compat::Dogpile1.codec().encode(&value, 1_700_000_000.5).unwrap();
            assert_eq!(reading.compressed, Some((algorithm, plain.len())));
        }
    }

    #[test]
    fn each_deployments_bytes_are_named() {
        let cases = [
            (Compat::Dogpile1, "dogpile 1.x, pickle"),
            (Compat::Seed05, "dogpile 1.x, pickle"),
            (Compat::Native, "seed, msgpack"),
            (Compat::Dogpile09, "pickled CachedValue"),
            (Compat::Seed04, "pickled CachedValue"),
        ];
        for (compat, expected) in cases {
            let bytes = compat.codec().encode(&sample(), 1_700_000_000.5).unwrap();
            let reading = read(&bytes).unwrap();
            assert!(reading.format.starts_with(expected), "{compat:?}: {reading:?}");
            assert_eq!(reading.value, sample(), "{compat:?}");
            assert_eq!(reading.ct, Some(1_700_000_000.5), "{compat:?}");
        }
        let raw = Compat::Seed05Raw.codec().encode(&Value::from("plain text"), 0.0).unwrap();
        let reading = read(&raw).unwrap();
        assert_eq!((reading.format, reading.ct), ("plugin 0.5.0 raw", None));
        assert_eq!(reading.value, Value::from("plain text"));
    }

    #[test]
    fn bytes_no_format_reads_are_said_so() {
        let err = read(b"\xc1\xc1 not a value").unwrap_err();
        assert!(err.contains("no known format"), "{err}");
    }
}
