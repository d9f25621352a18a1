//! `dogpile bench` and `dogpile memory-report`, in short runs on private servers.

use std::process::Command;

fn dogpile(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile")).args(args).output().expect("run the dogpile binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_json_pairs_each_dogpile_row_with_its_raw_twin() {
    let (ok, stdout, stderr) =
        dogpile(&["bench", "--spawn", "--duration", "400ms", "--only", "multi_mixed_100_ttl_hash_none", "--json"]);
    assert!(ok, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{json}");
    for (row, layer) in rows.iter().zip(["raw", "dogpile"]) {
        assert_eq!(row["workload"], "set_multi_mixed_100_ttl_hash_none");
        assert_eq!(row["layer"], layer);
        assert!(row["ops_per_s"].as_f64().unwrap() > 0.0 && row["keys_per_s"].as_f64().unwrap() > 0.0);
        assert!(
            row["p50_us"].as_f64().unwrap() > 0.0 && row["p99_us"].as_f64().unwrap() >= row["p50_us"].as_f64().unwrap()
        );
        assert_eq!(row["round_trips_per_op"], 1.0, "{row}");
        // 50 SET EX, and per hash the script's EVALSHA, EXISTS and HSET (the hashes exist
        // after the first write, so no PEXPIRE).
        assert_eq!(row["commands_per_op"], 80.0, "{row}");
    }
    assert!(rows[1]["ratio_to_raw"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_table_covers_every_workload() {
    let (ok, stdout, stderr) = dogpile(&["bench", "--spawn", "--duration", "40ms"]);
    assert!(ok, "{stdout}\n{stderr}");
    for workload in [
        "get_hit",
        "set",
        "get_or_create_hit",
        "get_or_create_hit_64_tasks",
        "get_multi_plain_100",
        "get_multi_mixed_100",
        "set_multi_mixed_100_ttl_hash_none",
        "set_multi_mixed_100_ttl_hash_true",
        "raw_get_multi_mixed_100",
        "coalesced_get_or_create_hit",
        "coalesced_get_or_create_hit_64_tasks",
        "coalesced_get_or_create_hit_64_tasks_1000_keys",
        "coalesced_get_or_create_hit_64_tasks_10_hot_keys",
        "coalesced_get_or_create_hit_256_tasks_1000_keys",
        "coalesced_2_in_flight_get_or_create_hit_64_tasks_1000_keys",
        "coalesced_2_in_flight_get_or_create_hit_64_tasks_10_hot_keys",
        "get_10kib_zstd",
        "set_10kib_lz4",
    ] {
        let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&format!("| {workload} |"))).collect();
        assert_eq!(rows.len(), 2, "{workload}:\n{stdout}");
        assert!(rows.iter().all(|r| r.contains("| 1.00 |")), "one round trip per operation: {rows:?}");
        // Many tasks' coalesced reads: fewer commands than hits; the raw twin sends a GET each.
        if workload.starts_with("coalesced_") && !workload.ends_with("_hit") {
            let commands = |row: &str| row.split('|').nth(11).and_then(|c| c.trim().parse::<f64>().ok());
            assert_eq!(commands(rows[0]), Some(1.0), "{rows:?}");
            assert!(commands(rows[1]).is_some_and(|c| c < 0.5), "{rows:?}");
        }
    }
}

#[test]
fn memory_report_puts_hash_storage_far_below_the_dogpile_envelope() {
    let (ok, stdout, stderr) = dogpile(&["memory-report", "--spawn", "--scale", "0.02", "--json"]);
    assert!(ok, "{stdout}\n{stderr}");
    // Not on a terminal: plain progress lines, one per strategy, no bar's escape codes.
    assert!(!stderr.contains('\x1b') && !stderr.contains('\r'), "{stderr:?}");
    let stages: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with('[')).collect();
    assert_eq!(stages.len(), 13, "{stderr}");
    assert!(stages[0].trim_start().starts_with("[1/13] ") && stages[12].contains("[13/13] "), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let rows = json["rows"].as_array().expect("rows");
    // Redis 7.0 has no per-field TTLs: that row is left out, and says why.
    assert_eq!(rows.len(), 12);
    let left_out = json["left_out"].as_array().expect("left_out");
    assert!(left_out.len() == 1 && left_out[0].as_str().unwrap().contains("HSETEX"), "{left_out:?}");
    assert_eq!(rows[0]["values"], 22_000);
    let percent = |i: usize| rows[i]["percent_of_first"].as_f64().unwrap();
    assert_eq!(percent(0), 100.0);
    assert!(percent(1) > 100.0, "a Redis TTL costs memory");
    assert!(percent(10) < 25.0 && percent(11) < 25.0, "hash storage: {} and {}", percent(10), percent(11));
    assert!(rows[10]["bytes_per_value"].as_f64().unwrap() < rows[0]["bytes_per_value"].as_f64().unwrap() / 4.0);
    // The documents: as they are, with zstd, with LZ4.
    let documents = json["documents"].as_array().expect("documents");
    assert_eq!(documents.len(), 3, "{documents:?}");
    let bytes = |i: usize| documents[i]["bytes_per_value"].as_f64().unwrap();
    assert!(bytes(0) > 2048.0, "{documents:?}");
    assert!(bytes(1) < bytes(2) && bytes(2) < bytes(0) / 2.0, "zstd, lz4 and none: {documents:?}");
}

#[test]
fn bench_compressed_rows_put_fewer_bytes_on_the_wire_and_count_server_cpu() {
    let (ok, stdout, stderr) = dogpile(&["bench", "--spawn", "--duration", "200ms", "--only", "10kib", "--json"]);
    assert!(ok, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8, "{json}");
    for pair in rows.chunks(2) {
        let bytes = |row: &serde_json::Value| row["bytes_per_op"].as_f64().unwrap();
        // The raw twin moves the 10 KiB entry (about 8 KB of JSON); compressed, a third or less.
        assert!(bytes(&pair[0]) > 7000.0 && bytes(&pair[1]) * 3.0 < bytes(&pair[0]), "{pair:?}");
        assert!(pair.iter().all(|row| row["server_cpu_ms_per_1000"].as_f64().is_some_and(|ms| ms >= 0.0)));
    }
}

#[test]
fn memory_report_on_valkey_measures_a_ttl_per_field() {
    let valkey = dogpile_testing::server::valkey_binary();
    let valkey = valkey.to_str().expect("a UTF-8 path");
    let (ok, stdout, stderr) =
        dogpile(&["memory-report", "--spawn-valkey", "--valkey-server", valkey, "--scale", "0.02", "--json"]);
    assert!(ok, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 13, "{rows:?}");
    assert_eq!(json["left_out"].as_array().map(Vec::len), Some(0));
    let bytes = |i: usize| rows[i]["bytes_per_value"].as_f64().unwrap();
    assert!(rows[12]["strategy"].as_str().unwrap().contains("a TTL per field"));
    // A TTL per field costs more than one per hash, and less than a key per value.
    assert!(bytes(11) < bytes(12) && bytes(12) < bytes(7), "{} {} {}", bytes(11), bytes(12), bytes(7));
}

#[test]
fn memory_report_asks_before_emptying_a_given_redis() {
    let (ok, _, stderr) = dogpile(&["memory-report", "--url", "redis://127.0.0.1:1/0"]);
    assert!(!ok);
    assert!(stderr.contains("--allow-flush"), "{stderr}");
}
