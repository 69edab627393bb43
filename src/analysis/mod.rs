//! Batch work over verdicts: each module reads a whole batch of scored leads and says
//! something about it as a whole (a funnel report, a rule change's effect, opportunities
//! to create, when each lead of a history changed stage, a decision log replayed).
//! Shared helpers for these analyses (the stage-to-stage matrix) live here once.

pub mod calibrate;
pub(crate) mod charts;
pub mod convert;
pub mod diff;
pub mod matrix;
pub mod replay;
pub mod report;
pub mod timeline;
