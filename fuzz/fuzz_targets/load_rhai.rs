//! Any text as a Rhai rule file beside the starter's fields and stages: it compiles or
//! fails with positioned problems; compiled rules run on the sample leads within the
//! sandbox's limits (a hang here is a sandbox hole: run with `-timeout`).

#![no_main]

mod common;

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut sources = common::frame_sources();
    sources.push((PathBuf::from("rules/fuzz.rhai"), text));
    common::load_and_score(sources);
});
