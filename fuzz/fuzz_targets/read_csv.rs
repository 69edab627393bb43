//! Any bytes read as CSV: every record gets a verdict or a rejection with a reason,
//! numbered in order; the bulk path, the ordinary one and the parallel pipeline agree.

#![no_main]

mod common;

use leadscore::io::InputFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| common::read_and_score(bytes, InputFormat::Csv));
