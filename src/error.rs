//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

/// Everything that can go wrong outside of scoring itself (scoring never fails: a broken
/// rule lands in [`Verdict::errors`](crate::Verdict::errors)).
#[derive(Debug)]
pub enum Error {
    /// The rules could not be loaded: every problem found, errors and warnings, each with
    /// its file, line and column.
    Rules(Vec<Diagnostic>),
    /// An input record was rejected.
    Record {
        /// The input it came from (a path, or `stdin`).
        source: String,
        /// The line it starts on.
        line: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// A file or folder could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// The diagnostics of a rules error (empty for other errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Rules(d) => d,
            _ => &[],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rules(diagnostics) => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                for d in diagnostics {
                    writeln!(f, "{}", d.render())?;
                }
                write!(
                    f,
                    "could not load the rules: {errors} error{}",
                    if errors == 1 { "" } else { "s" }
                )
            }
            Error::Record {
                source,
                line,
                reason,
            } => write!(f, "{source}:{line}: {reason}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
