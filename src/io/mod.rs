//! Input and output formats (placeholder until the io module lands).
