//! The dashboards in a real browser: the release-style binary serves a
//! store built from the sample extracts, and headless Chromium (Debian's
//! package) loads the league table, switches language by clicking, opens a
//! province, and checks what a reader sees. Screenshots are saved under
//! `target/tmp/browser/`.
//!
//! Chromium is driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: NUL-terminated JSON on fds 3 and 4), which
//! needs no WebDriver server. Without Chromium the test is skipped, unless
//! `VIGIL_REQUIRE_BROWSER=1` (as in CI), where that is a failure.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use common::*;

fn chromium() -> Option<PathBuf> {
    vigil::serve::report::chromium()
}

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts `vigil serve` on a free port and returns it with its URL.
fn start_server(store: &Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(store)
        .current_dir(store)
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server printed its URL").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), url.trim_end_matches('/').to_string())
}

struct Browser {
    _child: Killed,
    to: std::io::PipeWriter,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
}

impl Browser {
    fn start(exe: &Path, profile: &Path) -> Browser {
        let (their_in, to) = std::io::pipe().unwrap();
        let (mut from_pipe, their_out) = std::io::pipe().unwrap();
        let (fd_in, fd_out) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut cmd = Command::new(exe);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-pipe",
            "--window-size=1280,1600",
            "--lang=vi",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe dup2 calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd_in, 3) < 0 || libc::dup2(fd_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop(their_in);
        drop(their_out);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match from_pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut b = Browser {
            _child: Killed(child),
            to,
            from: rx,
            next_id: 0,
            session: None,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = Some(attached["sessionId"].as_str().unwrap().to_string());
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        match self.call_raw(method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    fn call_raw(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    return Err(e.clone());
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Evaluates JavaScript in the page (awaiting a promise) and returns
    /// its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `js` is true in a fully loaded page.
    fn wait_for(&mut self, js: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let probe = format!("document.readyState === 'complete' && !!({js})");
        while Instant::now() < deadline {
            // A navigation in progress can destroy the context mid-call.
            let r = self.call_raw(
                "Runtime.evaluate",
                json!({"expression": probe, "returnByValue": true}),
            );
            if r.is_ok_and(|r| r["result"]["value"] == json!(true)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {js}");
    }

    fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(&format!("location.href === {}", json!(url)));
    }

    fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap()
            .to_string()
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        std::fs::write(path, png).unwrap();
    }
}

#[test]
fn league_language_switch_and_province_in_a_real_browser() {
    let Some(exe) = chromium() else {
        if std::env::var("VIGIL_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("VIGIL_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)");
        }
        eprintln!("skipped: no Chromium (set CHROMIUM or install Debian's chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    sample_store_in(&dir.path().join("store"));
    let (_server, base) = start_server(&dir.path().join("store"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&out).unwrap();
    let profile = dir.path().join("profile");
    let mut b = Browser::start(&exe, &profile);

    // The league table, in Vietnamese by default.
    b.goto(&format!("{base}/d/league?period=2026-Q3"));
    let text = b.text();
    assert!(text.contains("Bảng xếp hạng các tỉnh, thành phố"), "{text}");
    assert!(text.contains("Quý 3/2026"));
    assert!(text.contains("Thành phố Hồ Chí Minh"));
    assert!(text.contains("Cà Mau"));
    assert_eq!(
        b.eval("document.querySelectorAll('table.league tbody tr').length"),
        json!(34)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('svg.interval').length"),
        json!(34)
    );
    // The bundled font is what the page is drawn with.
    assert_eq!(
        b.eval("document.fonts.ready.then(() => document.fonts.check('16px \"Noto Sans\"', 'Bắc Ninh'))"),
        json!(true)
    );
    // Sorting by the composite column, ascending, puts the lowest first.
    let lowest_first = b.eval(
        "(() => { const th = document.querySelectorAll('table.league th')[2]; th.click(); \
          const v = [...document.querySelectorAll('table.league tbody tr td:nth-child(3)')] \
            .map(td => td.dataset.sort).filter(s => s !== '').map(Number); \
          return v.every((x, i) => i === 0 || v[i - 1] <= x); })()",
    );
    assert_eq!(lowest_first, json!(true));
    b.screenshot(&out.join("league-vi.png"));

    // Switch language by clicking; the choice persists.
    b.eval("document.getElementById('switch-language').click()");
    b.wait_for("document.documentElement.lang === 'en'");
    let text = b.text();
    assert!(text.contains("Province league table"), "{text}");
    assert!(text.contains("Q3 2026"));
    assert!(
        text.contains("Thành phố Hồ Chí Minh"),
        "names keep diacritics"
    );
    b.screenshot(&out.join("league-en.png"));

    // Open a province from the table.
    let name = b.eval(
        "(() => { const a = [...document.querySelectorAll('table.league tbody a')] \
           .find(a => a.textContent === 'Bắc Ninh'); a.click(); return a.textContent; })()",
    );
    assert_eq!(name, json!("Bắc Ninh"));
    b.wait_for("location.pathname === '/d/province'");
    let text = b.text();
    assert!(text.contains("Province profile — Bắc Ninh"), "{text}");
    assert!(text.contains("Why this tier"));
    assert!(text.contains("Settlement on time"));
    let charts = b.eval("document.querySelectorAll('figure.chart svg').length");
    assert!(charts.as_u64().unwrap() >= 4, "{charts}");
    let chart_text = b.eval("document.querySelector('#panel-funnel svg').textContent");
    assert!(
        chart_text.as_str().unwrap().contains("Bắc Ninh"),
        "the province is marked"
    );
    // Why the score moved: words, and a waterfall that fits its panel.
    assert!(
        text.contains("Why the score moved since the previous period"),
        "{text}"
    );
    assert!(text.contains("Composite from"), "{text}");
    let fits = b.eval(
        "(() => { const svg = document.querySelector('#panel-change svg.waterfall'); \
           const panel = document.querySelector('#panel-change'); \
           return svg !== null && svg.getBoundingClientRect().width > 100 && \
             svg.getBoundingClientRect().right <= panel.getBoundingClientRect().right + 1; })()",
    );
    assert_eq!(
        fits,
        json!(true),
        "the change waterfall is drawn inside its panel"
    );
    b.screenshot(&out.join("province-en.png"));

    // And back to Vietnamese on the province page.
    b.eval("document.getElementById('switch-language').click()");
    b.wait_for("document.documentElement.lang === 'vi'");
    let text = b.text();
    assert!(text.contains("Vì sao xếp loại này"), "{text}");
    assert!(text.contains("Giải quyết đúng hạn"));
    assert!(
        text.contains("Vì sao điểm thay đổi so với kỳ trước"),
        "{text}"
    );
    assert!(text.contains("Điểm tổng hợp từ"), "{text}");
    let bars = b.eval("document.querySelectorAll('#panel-change svg.waterfall rect').length");
    assert!(bars.as_u64().unwrap() >= 3, "{bars}");
    b.screenshot(&out.join("province-vi.png"));

    // The Alerts page, in Vietnamese and in English.
    b.goto(&format!("{base}/alerts"));
    let text = b.text();
    assert!(
        text.contains("Cảnh báo") && text.contains("Đang mở"),
        "{text}"
    );
    b.eval("document.getElementById('switch-language').click()");
    b.wait_for("document.documentElement.lang === 'en'");
    let text = b.text();
    assert!(
        text.contains("Alerts") && text.contains("Recently cleared"),
        "{text}"
    );
    b.screenshot(&out.join("alerts-en.png"));
    b.eval("document.getElementById('switch-language').click()");
    b.wait_for("document.documentElement.lang === 'vi'");

    // The national overview with its map-like grid and funnel plot.
    b.goto(&format!("{base}/d/national?period=2026-Q3"));
    assert_eq!(
        b.eval("document.querySelectorAll('.tiles a.tile').length"),
        json!(34)
    );
    assert!(b.text().contains("Biểu đồ phễu"));
    b.screenshot(&out.join("national-vi.png"));

    for (width, mobile) in [(1280, false), (390, true)] {
        pages_fit(&mut b, &base, &out, width, mobile);
    }
    eprintln!("screenshots in {}", out.display());
}

/// What overflows on the page: the page itself scrolling sideways, a panel
/// scrolling, or a table, chart or tile grid wider than its panel.
const OVERFLOWS: &str = "(() => { const bad = []; \
  const root = document.documentElement; \
  if (root.scrollWidth > root.clientWidth + 1) bad.push('page ' + root.scrollWidth + ' > ' + root.clientWidth); \
  document.querySelectorAll('.panel').forEach(p => { \
    const pr = p.getBoundingClientRect(); \
    if (p.scrollWidth > p.clientWidth + 1) bad.push(p.id + ' scrolls ' + p.scrollWidth + ' > ' + p.clientWidth); \
    p.querySelectorAll('table, figure.chart svg, .tiles').forEach(el => { \
      const r = el.getBoundingClientRect(); \
      if (r.left < pr.left - 1 || r.right > pr.right + 1) bad.push(p.id + ' ' + el.tagName + ' ' + Math.round(r.width) + ' > ' + Math.round(pr.width)); \
      if (el.tagName === 'svg' && r.width < 0.5 * pr.width) bad.push(p.id + ' chart only ' + Math.round(r.width) + ' wide'); \
    }); \
  }); \
  return bad; })()";

/// Every heading of the league table can be read: at desktop width each
/// heading lies inside the panel; on a phone each row is a card whose cells
/// show their heading (`data-label` drawn by `::before`) inside the panel.
const LEAGUE_HEADINGS_HIDDEN: &str = "(() => { const bad = []; \
  const panel = document.querySelector('#panel-league').getBoundingClientRect(); \
  const inside = r => r.width > 0 && r.left >= panel.left - 1 && r.right <= panel.right + 1; \
  const heads = [...document.querySelectorAll('table.league thead th')].map(th => th.textContent.trim()); \
  if (heads.length !== 9) bad.push('headings: ' + heads.length); \
  const stacked = getComputedStyle(document.querySelector('table.league tbody tr')).display === 'block'; \
  if (!stacked) { \
    document.querySelectorAll('table.league thead th').forEach(th => { if (!inside(th.getBoundingClientRect())) bad.push('th ' + th.textContent); }); \
  } else { \
    const cells = [...document.querySelector('table.league tbody tr').cells]; \
    heads.forEach((h, i) => { const td = cells[i]; \
      const shown = getComputedStyle(td, '::before').content; \
      if (td.dataset.label !== h || shown !== JSON.stringify(h) || !inside(td.getBoundingClientRect())) bad.push('card ' + h + ' shows ' + shown); }); \
  } \
  return bad; })()";

/// The league, a province, the national picture, the plan, a province's
/// evidence, its data-quality feedback and the quarterly report at one
/// window width: nothing is cut at the side.
fn pages_fit(b: &mut Browser, base: &str, out: &Path, width: u32, mobile: bool) {
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
    );
    let pages = [
        ("league", "/d/league?period=2026-Q3"),
        ("province", "/d/province?province=24&period=2026-Q3"),
        ("national", "/d/national?period=2026-Q3"),
        ("plan", "/plan?quarter=2026-Q4"),
        ("evidence", "/plan/24?quarter=2026-Q4"),
        ("feedback", "/d/feedback?extract=2026-10-31&province=24"),
        ("report", "/report?quarter=2026-Q3"),
    ];
    for (name, path) in pages {
        b.goto(&format!("{base}{path}"));
        b.eval("document.fonts.ready.then(() => true)");
        let bad = b.eval(OVERFLOWS);
        assert_eq!(bad, json!([]), "{name} at {width} px: overflows");
        if name == "league" {
            assert_eq!(
                b.eval(LEAGUE_HEADINGS_HIDDEN),
                json!([]),
                "league headings at {width} px"
            );
        }
        if name == "plan" {
            let reasons = b.eval(
                "(() => { const td = document.querySelector('#panel-plan_chosen td.long'); \
                   const p = document.querySelector('#panel-plan_chosen').getBoundingClientRect(); \
                   if (!td) return false; const r = td.getBoundingClientRect(); \
                   return r.width > 100 && r.right <= p.right + 1; })()",
            );
            assert_eq!(
                reasons,
                json!(true),
                "the plan's reasons are visible at {width} px"
            );
        }
        b.screenshot(&out.join(format!("{name}-{width}.png")));
    }
}
