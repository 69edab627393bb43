//! Any bytes read as CSV: every record gets a verdict or a rejection with a reason,
//! numbered in order, and the bulk path agrees with the ordinary one.

#![no_main]

mod common;

use leadscore::io::InputFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| common::read_and_score(bytes, InputFormat::Csv));
