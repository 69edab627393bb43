//! Any text as a YAML rule file, alone and beside the starter's fields and stages: it
//! loads or fails with positioned problems that render; loaded rules score the sample
//! leads.

#![no_main]

mod common;

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes).into_owned();
    // Alone (it may declare everything itself) and with fields and stages to refer to.
    common::load_and_score(vec![(PathBuf::from("rules/fuzz.yaml"), text.clone())]);
    let mut sources = common::frame_sources();
    sources.push((PathBuf::from("rules/fuzz.yaml"), text));
    common::load_and_score(sources);
});
