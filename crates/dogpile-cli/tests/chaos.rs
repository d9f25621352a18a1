//! `dogpile chaos` as a user runs it: a minute of every fault on a private redis-server behind
//! the fault-injecting proxy, a short soak.

use std::process::Command;

#[test]
fn chaos_run_has_no_panic_hung_call_or_wrong_value_or_growth_and_recovers_from_every_fault() {
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["chaos", "--spawn", "--duration", "60s", "--fault-time", "1s", "--callers", "16", "--json"])
        .output()
        .expect("run the dogpile binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{stdout}\n{stderr}"));
    let context = format!("{report:#}\nstderr:\n{stderr}");
    assert_eq!(report["panics"], 0, "{context}");
    assert_eq!(report["hung"], 0, "{context}");
    assert_eq!(report["wrong_values"], 0, "{context}");
    assert_eq!(report["locks_left"], serde_json::json!([]), "{context}");
    assert!(report["calls"].as_u64().unwrap_or(0) > 1000, "{context}");

    // Each fault happened (its callers saw the error it causes) and the cache recovered.
    let faults = report["faults"].as_array().unwrap_or_else(|| panic!("no faults: {context}"));
    // Latency causes no error with a 250 ms timeout: its calls take longer instead; so may a
    // slow reader, when the replies of the moment fit in what it reads within the timeout.
    let expected = [
        ("kill", Some("Connection")),
        ("pause", Some("Timeout")),
        ("pause-write", Some("Timeout")),
        ("oom", Some("WritesRefused")),
        ("rekey", Some("Authentication")),
        ("latency", None),
        ("blackhole", Some("Timeout")),
        ("reset", Some("Connection")),
        ("slow-reader", None),
    ];
    assert_eq!(faults.len(), expected.len(), "{context}");
    for (fault, (name, kind)) in faults.iter().zip(expected) {
        assert_eq!(fault["fault"], name, "{context}");
        match kind {
            Some(kind) => {
                assert!(fault["errors"][kind].as_u64().unwrap_or(0) > 0, "{name} caused no {kind} error: {context}");
            }
            None => {
                assert!(fault["longest_call_ms"].as_f64().unwrap_or(0.0) >= 100.0, "{name} slowed nothing: {context}")
            }
        }
        let recovered = fault["recovered_ms"].as_f64().unwrap_or_else(|| panic!("no recovery from {name}: {context}"));
        assert!(recovered < 10_000.0, "{context}");
        assert!(fault["errors"].get("Codec").is_none(), "{name} left undecodable values: {context}");
    }
    assert!(report["quiet_errors"].get("Codec").is_none(), "{context}");

    // Resources at the start and the end of every phase; none grew past its slack, and once
    // the callers stopped no key is locked.
    let samples = report["resources"].as_array().unwrap_or_else(|| panic!("no resources: {context}"));
    assert_eq!(samples.len(), 2 + 2 * expected.len() + 1, "{context}");
    assert_eq!(report["grown"], serde_json::json!([]), "{context}");
    assert!(report["growth_per_minute"]["minutes"].as_f64().unwrap_or(0.0) > 0.5, "{context}");
    let stopped = samples.last().unwrap_or_else(|| panic!("{context}"));
    assert_eq!(stopped["when"], "callers stopped", "{context}");
    assert_eq!(stopped["locked_keys"], 0, "{context}");
    assert!(samples.iter().all(|s| s["rss_kib"].as_u64().unwrap_or(0) > 0 && s["fds"].as_u64().unwrap_or(0) > 0));
    assert_eq!(report["ok"], true, "{context}");
    assert!(out.status.success(), "{context}");
}

#[test]
fn chaos_refuses_server_faults_on_a_given_url() {
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["chaos", "--url", "redis://127.0.0.1:1/0", "--faults", "kill"])
        .output()
        .expect("run the dogpile binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a server of this run's own"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["chaos", "--url", "redis://127.0.0.1:1/0"])
        .output()
        .expect("run the dogpile binary");
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the faults"), "{:?}", out);
}
