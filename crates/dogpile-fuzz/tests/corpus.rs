//! Replays the whole corpus (`corpus/<target>/*`: the seeds and what the campaigns kept)
//! through every target, on the stable toolchain, so that a regression of a parser fails the
//! test suite without a fuzzer; and bounds what each input may allocate, so that a few bytes
//! declaring gigabytes fail here as they fail a campaign's `-malloc_limit_mb`.

use std::alloc::System;
use std::path::{Path, PathBuf};

use cap::Cap;

/// The system allocator, with a limit set before each input: an input that makes a target
/// hold more than its allowance aborts the replay with "memory allocation of N bytes failed"
/// after the name of the input it was reading.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// What reading an input may hold at once: a fixed allowance plus a multiple of its size (a
/// decoded value takes more room than its bytes; a declared length takes none).
fn allowance(input: usize) -> usize {
    8 * 1024 * 1024 + 64 * input
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", root.display()))
        .flatten()
        .flat_map(|dir| std::fs::read_dir(dir.path()).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_keeps_its_properties_on_the_whole_corpus() {
    let files = corpus();
    // A failing property panics: its message and backtrace are not the input's to pay for.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = ALLOCATOR.set_limit(usize::MAX);
        report(info);
    }));
    for (target, _) in dogpile_fuzz::TARGETS {
        let kept = files.iter().filter(|f| f.parent().and_then(Path::file_name) == Some(target.as_ref())).count();
        assert!(kept >= 10, "corpus/{target} holds {kept} inputs: run scripts/fuzz seed");
    }
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        eprintln!("reading {}", file.display());
        for (target, check) in dogpile_fuzz::TARGETS {
            let limit = ALLOCATOR.allocated() + allowance(data.len());
            assert!(ALLOCATOR.set_limit(limit).is_ok(), "a limit above what is allocated");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(ALLOCATOR.set_limit(usize::MAX).is_ok(), "no limit");
            assert!(outcome.is_ok(), "{target} fails on {}", file.display());
        }
    }
}
