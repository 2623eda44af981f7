//! The browser demo end to end, as CI runs it: build the wasm
//! (`examples/web/build.sh`) into a site assembled under the build's target
//! folder (`target/web/site`: the page, its script and `pkg/`; nothing is
//! written into the source tree), serve it on loopback, open the page in
//! headless Chromium (its WebGPU adapter is SwiftShader) and assert on the
//! numbers the page POSTs back: the kernel check, the loss curve and the
//! CAMs. Where Chromium or wasm-bindgen-cli is missing the test says so
//! on the terminal and skips, unless WEAKSEG_REQUIRE_BROWSER=1 (set by
//! `.ci/run` once it has installed them), when that is a failure.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// How long the page may take, build excluded: SwiftShader runs the
/// kernels on the CPU.
const PAGE_TIMEOUT: Duration = Duration::from_secs(480);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes past the test harness' capture, so a skip is seen.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "browser test: {msg}");
}

/// Skips (loudly) or fails, as WEAKSEG_REQUIRE_BROWSER asks.
fn skip(why: &str) {
    if std::env::var("WEAKSEG_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("browser test required but {why}");
    }
    say(&format!("SKIPPED: {why}"));
}

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WEAKSEG_CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// One request: GET serves a file under `root`; POST /report hands the
/// body to the test.
fn handle(stream: TcpStream, root: &Path, reports: &mpsc::Sender<String>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let path = target.split('?').next().unwrap_or("/");
    let mut out = stream;
    if method == "POST" && path == "/report" {
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let _ = reports.send(String::from_utf8_lossy(&body).into_owned());
        return out.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    }
    let rel = path.trim_start_matches('/');
    let file = root.join(if rel.is_empty() { "index.html" } else { rel });
    match (rel.contains(".."), fs::read(&file)) {
        (false, Ok(body)) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                content_type(&file),
                body.len()
            );
            out.write_all(head.as_bytes())?;
            out.write_all(&body)
        }
        _ => out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    }
}

/// Serves `root` on a loopback port in the background.
fn serve(root: PathBuf, reports: mpsc::Sender<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, reports) = (root.clone(), reports.clone());
            std::thread::spawn(move || handle(stream, &root, &reports));
        }
    });
    port
}

/// Kills the browser however the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn number(v: &serde_json::Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("report's {what} is not a number: {v}"))
}

/// Where the page is assembled: beside the wasm build, under `target/`.
fn site() -> PathBuf {
    workspace().join("target/web/site")
}

/// What stops the test from running here, if anything: the build runs
/// once per test binary, into a fresh [`site`].
fn prepare() -> Option<String> {
    static BUILT: OnceLock<Option<String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if chromium().is_none() {
                return Some(
                    "no Chromium (apt-get install chromium, or set WEAKSEG_CHROMIUM)".into(),
                );
            }
            let (root, site) = (workspace(), site());
            let _ = fs::remove_dir_all(&site);
            fs::create_dir_all(&site).expect("the site folder");
            for page in ["index.html", "main.js"] {
                fs::copy(root.join("examples/web").join(page), site.join(page))
                    .unwrap_or_else(|e| panic!("{page}: {e}"));
            }
            let build = Command::new(root.join("examples/web/build.sh"))
                .arg(site.join("pkg"))
                .env("CARGO_TARGET_DIR", root.join("target/web"))
                .output()
                .expect("build.sh runs");
            if build.status.code() == Some(3) {
                return Some(String::from_utf8_lossy(&build.stderr).trim().to_string());
            }
            assert!(
                build.status.success(),
                "the wasm build failed:\n{}",
                String::from_utf8_lossy(&build.stderr)
            );
            None
        })
        .clone()
}

/// Opens the page with `query` in headless Chromium with the network kept
/// off plus `flags`, and returns the report it POSTs back; `None` when the
/// test is skipped.
fn page_report(flags: &[&str], query: &str) -> Option<serde_json::Value> {
    if let Some(why) = prepare() {
        skip(&why);
        return None;
    }
    let chrome = chromium()?;
    let (tx, rx) = mpsc::channel();
    let port = serve(site(), tx);
    let profile = tempfile::tempdir().expect("a profile folder");
    let child = Command::new(&chrome)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ])
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "http://127.0.0.1:{port}/index.html?report=1&{query}"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Chromium starts");
    let browser = Browser(child);
    let text = rx
        .recv_timeout(PAGE_TIMEOUT)
        .unwrap_or_else(|_| panic!("the page sent no report within {PAGE_TIMEOUT:?}"));
    drop(browser);
    say(&format!("report: {text}"));
    Some(serde_json::from_str(&text).expect("the report is JSON"))
}

#[test]
fn page_trains_in_headless_chromium() {
    // 16 images of 32 px in batches of 8 for 6 epochs: 12 steps.
    let Some(r) = page_report(
        &["--enable-unsafe-webgpu"],
        "images=16&size=32&batch=8&epochs=6&samples=2",
    ) else {
        return;
    };
    assert!(r["error"].is_null(), "the page failed: {}", r["error"]);
    let adapter = r["adapter"].as_str().unwrap_or("");
    assert!(
        !adapter.is_empty() && !adapter.starts_with("unnamed"),
        "the page did not name its adapter: {adapter:?}"
    );
    // Tolerance: f32 sums of 13 products of values below 4 in size.
    let err = number(&r["kernel_max_error"], "kernel_max_error");
    assert!(err < 1e-4, "matmul differs from its CPU reference by {err}");

    let losses: Vec<f64> = r["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|v| number(v, "loss"))
        .collect();
    assert_eq!(losses.len(), 12, "steps reported: {losses:?}");
    let first = (losses[0] + losses[1]) / 2.0;
    let last = (losses[10] + losses[11]) / 2.0;
    assert!(last < first, "loss did not fall: {losses:?}");

    let cams = r["cams"].as_array().expect("cams");
    assert_eq!(cams.len(), 2);
    for c in cams {
        assert_eq!(c["finite"], serde_json::Value::Bool(true), "{c}");
        assert!(number(&c["max"], "cam max") > 0.0, "{c}");
        assert!(number(&c["mean"], "cam mean") > 0.0, "{c}");
    }
}

#[test]
fn page_explains_a_browser_without_webgpu() {
    let Some(r) = page_report(&["--disable-features=WebGPU"], "epochs=1") else {
        return;
    };
    let error = r["error"].as_str().unwrap_or("");
    assert!(
        error.contains("WebGPU") && error.contains("browser"),
        "no plain-language message: {r}"
    );
    assert_eq!(r["losses"].as_array().map(Vec::len), Some(0));
}
