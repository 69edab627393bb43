//! Batch work over verdicts: each module reads a whole batch of scored leads and says
//! something about it as a whole (a funnel report, a rule change's effect, opportunities
//! to create, a decision log replayed). Shared helpers for these analyses live here once.

pub mod convert;
pub mod diff;
pub mod replay;
pub mod report;
