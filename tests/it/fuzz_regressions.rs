//! The fuzz targets' checks on stable: every input a target ever failed on
//! (`fuzz/regressions/<target>/`) and the bundled fixtures, through the same functions the
//! targets run under libFuzzer (`fuzz/checks.rs`), so a fix stays fixed without nightly.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Runs `check` on each file, and names every file that fails rather than stopping at one.
fn run_all(target: &str, check: checks::Check, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
            failures.push(format!("{target}: {}", file.display()));
        }
    }
    failures
}

#[test]
fn every_saved_fuzz_finding_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut failures = Vec::new();
    let mut inputs = 0;
    for (target, check) in checks::TARGETS {
        let files = files_under(&root.join(target));
        inputs += files.len();
        failures.extend(run_all(target, *check, &files));
    }
    assert!(inputs > 0, "no regression inputs under {}", root.display());
    assert!(failures.is_empty(), "failed:\n{}", failures.join("\n"));
}

/// The fixtures are the seed corpus's core: every check must hold on them too, or a target
/// would stop at its first seed.
#[test]
fn the_fixtures_pass_every_check() {
    let files = files_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    assert!(files.len() > 20);
    let mut failures = Vec::new();
    for (target, check) in checks::TARGETS {
        failures.extend(run_all(target, *check, &files));
    }
    assert!(failures.is_empty(), "failed:\n{}", failures.join("\n"));
}
