//! Thin libFuzzer entry: the body and its invariants live in
//! `framescope::fuzzing::frame_spec`, where `cargo test` replays the corpora.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| framescope::fuzzing::frame_spec(data));
