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

/// A browser on PATH: Debian's chromium, or Chrome.
pub fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Renders `page` in the headless `browser` (no network, a fresh profile under
/// `scratch`), returning the DOM after load and the screenshot's bytes.
pub fn render(browser: &Path, page: &Path, scratch: &Path) -> (String, Vec<u8>) {
    use std::time::{Duration, Instant};
    std::fs::create_dir_all(scratch).expect("scratch folder");
    let shot = scratch.join("page.png");
    let profile = scratch.join("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=900,1800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the browser starts");
    let mut reader = child.stdout.take().expect("stdout is piped");
    let read = std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let _ = reader.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("browser status").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within 120 s", browser.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = read.join().expect("reader finishes");
    let png = std::fs::read(&shot).unwrap_or_default();
    (dom, png)
}

/// The SVG labels of an HTML page that the browser lays out outside their chart, as
/// `chart-id: text` lines (empty when every label fits). A copy of the page gets a
/// script that compares each label's box with its chart's; the page itself has none.
pub fn labels_off_their_charts(browser: &Path, page: &Path, scratch: &Path) -> Vec<String> {
    const PROBE: &str = "<pre id=\"overflow\"></pre><script>
const bad = [];
for (const svg of document.querySelectorAll('svg')) {
  const frame = svg.getBoundingClientRect();
  for (const t of svg.querySelectorAll('text')) {
    const b = t.getBoundingClientRect();
    if (b.width === 0) continue;
    if (b.left < frame.left - 0.5 || b.right > frame.right + 0.5 ||
        b.top < frame.top - 0.5 || b.bottom > frame.bottom + 0.5) {
      bad.push(svg.id + ': ' + t.textContent);
    }
    // A label drawn on a bar must fit inside it.
    const bar = t.previousElementSibling;
    if (bar && bar.tagName === 'rect' && svg.id === 'funnel') {
      const r = bar.getBoundingClientRect();
      const overlaps = !(b.right < r.left || b.left > r.right || b.bottom < r.top || b.top > r.bottom);
      const inside = b.left >= r.left && b.right <= r.right && b.top >= r.top && b.bottom <= r.bottom;
      if (overlaps && !inside) bad.push(svg.id + ' (off its bar): ' + t.textContent);
    }
  }
}
document.getElementById('overflow').textContent = 'OVERFLOW[' + bad.join('|') + ']';
</script>";
    let html = std::fs::read_to_string(page).expect("page readable");
    let probed = scratch.join("probed.html");
    std::fs::create_dir_all(scratch).expect("scratch folder");
    std::fs::write(&probed, html.replace("</main>", &format!("</main>{PROBE}")))
        .expect("probe page written");
    let (dom, _) = render(browser, &probed, scratch);
    let start = dom.find("OVERFLOW[").expect("the probe ran") + "OVERFLOW[".len();
    let end = dom[start..].find(']').map_or(dom.len(), |i| start + i);
    dom[start..end]
        .split('|')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("&amp;", "&")
                .replace("&gt;", ">")
                .replace("&lt;", "<")
        })
        .collect()
}
