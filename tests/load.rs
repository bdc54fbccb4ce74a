//! Extracts ingested one after another into the store a real server is
//! serving, while page readers and analysts keep it busy: no 5xx, every
//! answer from one committed catalog (never half an extract), the caches
//! refreshed after each commit, the server's memory flat. The longer run
//! with 64 readers is `bench/ingest_under_load.sh`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{copy_tree, files_in, proc_status_kb, web_server};

const KEY: &str = "load-test-key-not-secret-0123456789";

fn get(port: u16, path: &str) -> (u16, std::collections::HashMap<String, String>, String) {
    common::http(port, "GET", path, &[], "")
}

fn vigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.env("VIGIL_HMAC_KEY", KEY).env("VIGIL_LOG", "warn");
    c
}

/// `vigil ingest DIR --store STORE`, which must succeed.
fn ingest(dir: &Path, store: &Path) {
    let out = vigil()
        .arg("ingest")
        .arg(dir)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What every reader checks; failures are collected, not panicked, so
/// that the run finishes and reports them all.
struct Tally {
    requests: AtomicUsize,
    /// The slowest answer, in milliseconds, of the pages and of SQL.
    slowest_page_ms: AtomicUsize,
    slowest_sql_ms: AtomicUsize,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, p: String) {
        let mut all = self.problems.lock().unwrap();
        if all.len() < 20 {
            all.push(p);
        }
    }
}

#[test]
fn ingest_while_serving_under_load() {
    let readers: usize = std::env::var("VIGIL_LOAD_READERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let tmp = tempfile::tempdir().unwrap();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/extracts");
    let mut dates: Vec<String> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    dates.sort();
    let later = 4;
    let (base, rest) = dates.split_at(dates.len() - later);
    let base_dir = tmp.path().join("base");
    for d in base {
        copy_tree(&samples.join(d), &base_dir.join(d));
    }
    let store = tmp.path().join("store");
    ingest(&base_dir, &store);
    // The alerts evaluated after the ingest counted the last two complete
    // quarters and kept their counts, which the first pages read.
    let kept: Vec<String> = files_in(&store.join("cache/indicators"))
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for quarter in ["2026-Q1", "2026-Q2"] {
        let q = format!("\"period\":\"{quarter}\"");
        assert!(kept.iter().any(|k| k.contains(&q)), "{quarter}");
    }

    let child = vigil()
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(&store)
        .arg("--audit-log")
        .arg(tmp.path().join("audit.jsonl"))
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (_server, pid, port) = web_server(child);

    // The committed extract dates, in order: extract n is dates[n - 1].
    let all_dates: Arc<Vec<String>> = Arc::new(dates.clone());
    let committed = Arc::new(AtomicUsize::new(base.len()));
    let league = "/api/league?period=2026-Q2";
    let (status, _, body) = get(port, league);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = get(port, "/d/league");
    assert_eq!(status, 200, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally {
        requests: AtomicUsize::new(0),
        slowest_page_ms: AtomicUsize::new(0),
        slowest_sql_ms: AtomicUsize::new(0),
        problems: Mutex::new(Vec::new()),
    });
    let mut threads = Vec::new();
    for i in 0..readers {
        let (stop, tally, dates, committed) = (
            stop.clone(),
            tally.clone(),
            all_dates.clone(),
            committed.clone(),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Between the two loads the committed count only grows.
                let low = committed.load(Ordering::SeqCst);
                let path = if i % 2 == 0 { league } else { "/d/league" };
                let t = Instant::now();
                let (status, headers, body) = get(port, path);
                let ms = t.elapsed().as_millis() as usize;
                tally.slowest_page_ms.fetch_max(ms, Ordering::SeqCst);
                let high = committed.load(Ordering::SeqCst) + 1; // one may be landing
                tally.requests.fetch_add(1, Ordering::SeqCst);
                if status >= 500 || status == 0 {
                    tally.problem(format!("{path}: {status} {}", &body[..body.len().min(200)]));
                    continue;
                }
                if let Some(as_of) = headers.get("x-vigil-as-of") {
                    let n = dates.iter().position(|d| d == as_of).map(|p| p + 1);
                    if !n.is_some_and(|n| n >= low && n <= high) {
                        tally.problem(format!("{path}: as of {as_of}, committed {low}..{high}"));
                    }
                }
            }
        }));
    }
    for _ in 0..4 {
        let (stop, tally, dates, committed) = (
            stop.clone(),
            tally.clone(),
            all_dates.clone(),
            committed.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let q = serde_json::json!({"sql": "SELECT count(*) AS n, max(extract_date) AS last FROM extracts"})
                .to_string();
            while !stop.load(Ordering::SeqCst) {
                let low = committed.load(Ordering::SeqCst);
                let t = Instant::now();
                let (status, _, body) = common::http(port, "POST", "/api/sql", &[], &q);
                let ms = t.elapsed().as_millis() as usize;
                tally.slowest_sql_ms.fetch_max(ms, Ordering::SeqCst);
                let high = committed.load(Ordering::SeqCst) + 1;
                tally.requests.fetch_add(1, Ordering::SeqCst);
                if status != 200 {
                    tally.problem(format!("sql: {status} {}", &body[..body.len().min(200)]));
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let n = v["rows"][0][0].as_u64().unwrap_or(0) as usize;
                let last = v["rows"][0][1].as_str().unwrap_or("").to_string();
                // One catalog: the count and the last date agree.
                if !(n >= low && n <= high && dates.get(n - 1) == Some(&last)) {
                    tally.problem(format!("sql: {n} extracts, last {last}, committed {low}..{high}"));
                }
            }
        }));
    }

    let rss_start = proc_status_kb(pid, "VmRSS:");
    let mut rss = Vec::new();
    for d in rest {
        let dir = tmp.path().join("later").join(d);
        copy_tree(&samples.join(d), &dir);
        ingest(&dir, &store);
        committed.fetch_add(1, Ordering::SeqCst);
        // The caches follow the commit: the league answers as of it soon.
        let started = Instant::now();
        loop {
            let (status, headers, _) = get(port, league);
            if status == 200 && headers.get("x-vigil-as-of") == Some(d) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the league still answers as of {:?} a minute after {d} landed",
                headers.get("x-vigil-as-of")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        rss.push(proc_status_kb(pid, "VmRSS:"));
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let problems = tally.problems.lock().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let requests = tally.requests.load(Ordering::SeqCst);
    assert!(requests > readers * later, "only {requests} requests");
    // Flat: the last ingest leaves the server no larger than the first
    // one did, give or take a quarter.
    let (first, last) = (rss[0], *rss.last().unwrap());
    assert!(
        last <= first + first / 4 + 16_384,
        "RSS grew from {first} kB to {last} kB over {later} ingests (start {rss_start} kB)"
    );
    eprintln!(
        "{requests} requests by {readers} readers and 4 analysts over {later} ingests; \
         server RSS {rss_start} kB at start, {rss:?} kB after each ingest; slowest page {} ms, \
         slowest SQL {} ms",
        tally.slowest_page_ms.load(Ordering::SeqCst),
        tally.slowest_sql_ms.load(Ordering::SeqCst)
    );
}
