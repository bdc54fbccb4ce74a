//! `vigil report`: the quarterly report as an A4 PDF.
//!
//! The report is a web page (`/report`, see `web::quarterly`), so the PDF
//! is exactly what a reader prints from the browser. This process serves
//! the store on a loopback port for the few seconds it takes, and headless
//! Chromium (Debian's `chromium` package, the browser the tests already
//! use) loads the page and prints it with `--print-to-pdf`: its layout
//! engine shapes Vietnamese text with the bundled Noto Sans and honours the
//! page rules (A4, page breaks, the running footer with page numbers).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

use crate::present::i18n::Lang;
use crate::serve::web::{AppState, ClientAddr};

/// What to print.
pub struct ReportRequest {
    pub quarter: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub lang: Lang,
}

/// How long Chromium may take to load and print the report.
const PRINT_TIMEOUT: Duration = Duration::from_secs(300);

/// The Chromium to print with: `$CHROMIUM`, else the usual places.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
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

/// Writes the report to `out` (replaced only once the PDF is complete).
pub fn write_pdf(state: AppState, req: &ReportRequest, out: &Path) -> Result<()> {
    let browser = chromium().context(
        "printing the report needs Chromium: apt-get install chromium (or set CHROMIUM to its path)",
    )?;
    let rt = crate::facts::query_runtime().worker_threads(2).build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let service = crate::serve::web::app(state).into_make_service_with_connect_info::<ClientAddr>();
    rt.spawn(async move { axum::serve(listener, service).await });
    let path = report_path(req);
    // The page is checked first, so that a wrong quarter or an empty store
    // is a clear message rather than a PDF of an error page.
    check_page(addr, &path)?;
    let partial = out.with_extension("pdf.partial");
    print(&browser, &format!("http://{addr}{path}"), &partial)?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn report_path(req: &ReportRequest) -> String {
    let mut path = format!("/report?lang={}", req.lang.code());
    if let Some(q) = &req.quarter {
        path.push_str(&format!(
            "&quarter={}",
            crate::serve::web::encode_component(q)
        ));
    }
    if let Some(d) = req.as_of {
        path.push_str(&format!("&as_of={d}"));
    }
    path
}

/// GETs the page once over plain HTTP/1.1 and fails with the server's
/// own message unless it answers 200.
fn check_page(addr: std::net::SocketAddr, path: &str) -> Result<()> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(PRINT_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let text = String::from_utf8_lossy(&reply);
    let status = text.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        return Ok(());
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let message = body
        .split("class=\"error-message\">")
        .nth(1)
        .and_then(|m| m.split('<').next())
        .unwrap_or(body)
        .trim();
    bail!("the report cannot be made ({status}): {message}")
}

/// Runs Chromium to print `url` into `pdf`.
fn print(browser: &Path, url: &str, pdf: &Path) -> Result<()> {
    let profile = std::env::temp_dir().join(format!("vigil-report-{}", std::process::id()));
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-pdf-header-footer",
        "--run-all-compositor-stages-before-draw",
        "--virtual-time-budget=30000",
    ]);
    // Chromium's sandbox refuses to run as root (containers, CI).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--no-sandbox");
    }
    cmd.arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", browser.display()))?;
    // Read while it runs: a full pipe would stop Chromium.
    let mut stderr = child.stderr.take().context("Chromium's error output")?;
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > PRINT_TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            bail!(
                "Chromium did not print the report within {} s",
                PRINT_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::fs::remove_dir_all(&profile).ok();
    let err = errors.join().unwrap_or_default();
    let head = std::fs::read(pdf).ok().map(|b| b.starts_with(b"%PDF"));
    if !status.success() || head != Some(true) {
        std::fs::remove_file(pdf).ok();
        bail!(
            "Chromium did not print the report ({status}): {}",
            err.lines().last().unwrap_or("")
        );
    }
    Ok(())
}
