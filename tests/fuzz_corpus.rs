//! Replays every committed fuzz seed (`fuzz/seeds/TARGET/`) and every past
//! crash (`fuzz/regressions/TARGET/`) through the library bodies of the
//! fuzz targets, so their invariants are checked on a stable toolchain
//! without cargo-fuzz. A short run on pseudo-random inputs adds a little
//! breadth.

use std::fs;
use std::path::Path;

use framescope::fuzzing;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("decoder", fuzzing::decoder),
    ("reassembly", fuzzing::reassembly),
    ("packet", fuzzing::packet),
    ("capture_file", fuzzing::capture_file),
    ("frame_spec", fuzzing::frame_spec),
];

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut count = 0;
    for (target, body) in TARGETS {
        let Ok(dir) = fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            let data = fs::read(&path).unwrap();
            let name = path.display().to_string();
            if let Err(e) = std::panic::catch_unwind(|| body(&data)) {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{name}: {why}");
            }
            count += 1;
        }
    }
    count
}

/// Files under `fuzz/KIND/` for the known targets, counted independently
/// of [`replay`].
fn files(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    TARGETS
        .iter()
        .filter_map(|(target, _)| fs::read_dir(root.join(target)).ok())
        .flat_map(|dir| dir.filter_map(Result::ok))
        .filter(|e| e.path().is_file())
        .count()
}

#[test]
fn seeds_hold_every_invariant() {
    let ran = replay("seeds");
    assert_eq!(ran, files("seeds"));
    assert!(ran >= 100, "{ran} seeds replayed");
}

#[test]
fn past_crashes_stay_fixed() {
    let ran = replay("regressions");
    assert_eq!(ran, files("regressions"));
    assert!(ran >= 5, "{ran} past crashes replayed");
}

/// A xorshift generator: deterministic, no dependency.
fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

#[test]
fn random_inputs_hold_every_invariant() {
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for (_, body) in TARGETS {
        for round in 0..300 {
            let data = noise(&mut state, round % 97 * 13);
            body(&data);
        }
    }
}
