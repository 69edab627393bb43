//! Helpers shared by the integration tests: run the real binary, compare golden files.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The crate root: tests run the binary from here, so `rules/` and `fixtures/` resolve.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `leadscore ARGS` from the crate root with no colour and empty standard input.
pub fn leadscore(args: &[&str]) -> Output {
    leadscore_with_stdin(args, b"")
}

/// Runs `leadscore ARGS` feeding `input` on standard input.
pub fn leadscore_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("LEADSCORE_RULES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the leadscore binary runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // Write from another thread so a large input cannot deadlock against full pipes.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("leadscore finishes");
    writer.join().expect("stdin writer finishes");
    output
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code (-1 when killed by a signal).
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Compares `got` with the golden file at `path` (relative to the crate root), printing
/// both in full on a mismatch. With `LEADSCORE_BLESS=1` the golden file is rewritten.
pub fn assert_golden(path: &str, got: &str) {
    let file = root().join(path);
    if std::env::var_os("LEADSCORE_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap_or(Path::new("."))).expect("golden folder");
        std::fs::write(&file, got).expect("golden file written");
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e} (run with LEADSCORE_BLESS=1 to create it)")
    });
    if want != got {
        panic!(
            "output differs from {path} (rerun with LEADSCORE_BLESS=1 to accept)\n--- expected\n{want}\n--- got\n{got}\n"
        );
    }
}

/// A path under the temp folder, unique to this process and name, removed on drop.
pub struct Temp(PathBuf);

impl Temp {
    /// A fresh path named `name` (nothing exists there yet).
    pub fn new(name: &str) -> Temp {
        let path =
            std::env::temp_dir().join(format!("leadscore-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_file(&path);
        Temp(path)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path as text, for command lines.
    pub fn str(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }

    /// The file's text.
    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).expect("temp file readable")
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Asserts the exit code, printing both output streams when it differs.
#[track_caller]
pub fn assert_code(out: &Output, want: i32) {
    assert_eq!(
        code(out),
        want,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
}
