//! Every machine output against its JSON Schema in `docs/schema/`:
//! `analyze --format json` and `jsonl`, `detect --format json` and
//! `flows --format json`, on every capture shipped, validated by Python's
//! `jsonschema` (`scripts/validate-json.py`). The schemas forbid fields
//! they do not describe, so a field added to the output without its
//! documentation fails here.
//!
//! Needs `python3` with `jsonschema` (`scripts/deps.sh --test` installs
//! it); without it the test says so and passes, except under `CI=true`.

use std::path::PathBuf;
use std::process::Command;

mod common;

use common::{captures, runs, validate};

#[test]
fn every_machine_output_matches_its_schema() {
    let test = "every_machine_output_matches_its_schema";
    if !runs(
        test,
        "python3",
        &["-c", "import jsonschema"],
        "python3's jsonschema",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("framescope-schemas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runs: [(&str, &[&str]); 5] = [
        (
            "analyze",
            &["analyze", "--format", "json", "--recv", "1024"],
        ),
        (
            "analyze",
            &[
                "analyze", "--format", "json", "--frame", "none", "--recv", "5,5,10,5",
            ],
        ),
        (
            "analyze-jsonl",
            &["analyze", "--format", "jsonl", "--messages"],
        ),
        ("detect", &["detect", "--format", "json"]),
        ("flows", &["flows", "--format", "json"]),
    ];
    let mut files: Vec<(&str, Vec<PathBuf>)> = Vec::new();
    for (i, (schema, args)) in runs.iter().enumerate() {
        let mut written = Vec::new();
        for (k, capture) in captures().iter().enumerate() {
            let (cmd, rest) = args.split_first().unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_framescope"))
                .arg(cmd)
                .arg(capture)
                .args(rest)
                .output()
                .unwrap();
            if out.stdout.is_empty() {
                continue; // not a capture at all: nothing printed, exit 2
            }
            let file = dir.join(format!("{i}-{k}.json"));
            std::fs::write(&file, &out.stdout).unwrap();
            written.push(file);
        }
        files.push((schema, written));
    }
    let mut total = 0;
    for (schema, written) in &files {
        assert!(written.len() >= 45, "{schema}: {} outputs", written.len());
        total += validate(schema, written);
    }
    // jsonl counts each line: far more documents than files.
    assert!(total >= 5 * 45, "{total} documents validated");
    let _ = std::fs::remove_dir_all(&dir);
}
