//! Colour for terminals only: never when the stream is redirected or `NO_COLOR` is set.

use std::io::IsTerminal;

/// Paints text with ANSI colours when enabled.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Colour for standard error, when it is a terminal and `NO_COLOR` is unset.
    pub fn stderr() -> Style {
        Style {
            enabled: std::io::stderr().is_terminal() && colour_allowed(),
        }
    }

    /// Colour for standard output, when it is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Style {
        Style {
            enabled: std::io::stdout().is_terminal() && colour_allowed(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Red and bold, for errors.
    pub fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Yellow and bold, for warnings.
    pub fn warning(self, text: &str) -> String {
        self.paint("1;33", text)
    }

    /// Green, for success.
    pub fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Renders a diagnostic with its severity coloured.
    pub fn diagnostic(self, d: &leadscore::Diagnostic) -> String {
        let text = d.render();
        let label = d.severity.to_string();
        match text.strip_prefix(&label) {
            Some(rest) if d.is_error() => format!("{}{rest}", self.error(&label)),
            Some(rest) => format!("{}{rest}", self.warning(&label)),
            None => text,
        }
    }
}

fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}
