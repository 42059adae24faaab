//! Replays every saved input through its target: the hand-written seed corpus in
//! `corpus/<target>/` and the minimised failures in `regressions/<target>/`, each
//! of which once failed a target and must pass since its fix.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use routeyard_fuzz::TARGETS;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a readable directory entry").path())
            .filter(|p| p.is_file())
            .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep"))
            .collect(),
        Err(err) => panic!("{}: {err}", dir.display()),
    };
    list.sort();
    list
}

/// Runs each file through `target`; returns the files that failed.
fn replay(target: fn(&[u8]), list: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for path in list {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    failed
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_target_has_a_seed_corpus_and_a_regressions_directory() {
    for (name, _) in TARGETS {
        let corpus = files(&root().join("corpus").join(name));
        assert!(
            corpus.len() >= 3,
            "{name}: only {} seed files",
            corpus.len()
        );
        assert!(root().join("regressions").join(name).is_dir(), "{name}");
    }
}

#[test]
fn seed_corpus_passes() {
    let mut failed = Vec::new();
    for (name, target) in TARGETS {
        failed.extend(replay(*target, &files(&root().join("corpus").join(name))));
    }
    assert!(failed.is_empty(), "failing seeds: {failed:#?}");
}

#[test]
fn regressions_pass() {
    let mut failed = Vec::new();
    for (name, target) in TARGETS {
        failed.extend(replay(
            *target,
            &files(&root().join("regressions").join(name)),
        ));
    }
    assert!(failed.is_empty(), "failing regressions: {failed:#?}");
}

/// Valid inputs of each dialect pass their targets: the accepting branches (read
/// back, round trip, delete) run, not only the refusals.
#[test]
fn targets_accept_known_good_inputs() {
    routeyard_fuzz::port_range(b"1024-2000,3000");
    routeyard_fuzz::cf_json(br#"[{"route":"a.com","ip":"10.0.0.1","port":80}]"#);
    routeyard_fuzz::kong_json(br#"{"paths":["/a"]}"#);
    routeyard_fuzz::cdap_json(br#"{"v1":100}"#);
    routeyard_fuzz::gobetween_json(
        br#"{"bind":"0.0.0.0:3000","discovery":{"kind":"static","static_list":["10.0.0.1:80"]}}"#,
    );
    routeyard_fuzz::ffi_json(b"\x08\x00{\"name\":\"orders\",\"host\":\"orders.internal\"}");
}
