//! `dogpile chaos` as a user runs it: a short run of every fault on a private redis-server.

use std::process::Command;

#[test]
fn chaos_run_has_no_panic_hung_call_or_wrong_value_and_recovers_from_every_fault() {
    let out = Command::new(env!("CARGO_BIN_EXE_dogpile"))
        .args(["chaos", "--spawn", "--duration", "6s", "--fault-time", "500ms", "--callers", "16", "--json"])
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
    let expected = [
        ("kill", "Connection"),
        ("pause", "Timeout"),
        ("pause-write", "Timeout"),
        ("oom", "WritesRefused"),
        ("rekey", "Authentication"),
    ];
    assert_eq!(faults.len(), expected.len(), "{context}");
    for (fault, (name, kind)) in faults.iter().zip(expected) {
        assert_eq!(fault["fault"], name, "{context}");
        assert!(fault["errors"][kind].as_u64().unwrap_or(0) > 0, "{name} caused no {kind} error: {context}");
        let recovered = fault["recovered_ms"].as_f64().unwrap_or_else(|| panic!("no recovery from {name}: {context}"));
        assert!(recovered < 10_000.0, "{context}");
        assert!(fault["errors"].get("Codec").is_none(), "{name} left undecodable values: {context}");
    }
    assert!(report["quiet_errors"].get("Codec").is_none(), "{context}");
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
