//! Analysts' queries against the real server binary: a query that would
//! take gigabytes is refused with the server's memory untouched, a query
//! past its timeout stops using the processor within two seconds, the
//! dashboards answer meanwhile, and a flood of huge queries leaves every
//! earlier audit entry in place. Memory and processor time are read from
//! `/proc` of the server and its worker processes.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil::serve::auth::UsersFile;
use vigil::serve::sqlguard::Role;

use common::*;

fn sql(port: u16, token: &str, q: &str) -> (u16, String) {
    let body = serde_json::json!({ "sql": q }).to_string();
    let bearer = format!("Bearer {token}");
    let (status, _, body) = http(
        port,
        "POST",
        "/api/sql",
        &[("Authorization", &bearer)],
        &body,
    );
    (status, body)
}

/// Processor time (clock ticks) of a process.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// The query workers the server runs now.
fn workers(server: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            status.lines().any(|l| l == format!("PPid:\t{server}"))
                && String::from_utf8_lossy(&cmd).contains("sql-worker")
        })
        .collect()
}

/// Processor time used by the server and its workers over `window`.
fn busy(server: u32, window: Duration) -> u64 {
    let total = || cpu_ticks(server) + workers(server).iter().map(|p| cpu_ticks(*p)).sum::<u64>();
    let before = total();
    std::thread::sleep(window);
    total().saturating_sub(before)
}

#[test]
fn analyst_queries_cannot_take_the_servers_memory_or_processor() {
    let dir = tempfile::tempdir().unwrap();
    small_store_with_content(dir.path());
    let users = dir.path().join("users.toml");
    let (_, token) = UsersFile::add_user(&users, "lan", Role::Analyst).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .arg("--users")
        .arg(&users)
        .arg("--audit-log")
        .arg(&audit)
        .args(["--sql-timeout-secs", "4", "--sql-memory-mb", "1024"])
        .current_dir(dir.path())
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (_server, pid, port) = web_server(child);

    let (status, body) = sql(port, &token, "SELECT 1 AS one");
    assert_eq!(status, 200, "{body}");

    // 1. A gigabyte string: refused, the server's own peak unchanged.
    let (status, body) = sql(port, &token, "SELECT length(repeat('x', 1000000000))");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("more memory than the 1024 MiB"), "{body}");
    let peak_mb = proc_status_kb(pid, "VmHWM:") / 1024;
    assert!(peak_mb < 400, "the server's peak RSS is {peak_mb} MB");
    // A memory-hungry plan alike (a list of 10^8 numbers).
    let (status, body) = sql(
        port,
        &token,
        "SELECT count(*) FROM unnest(range(1, 100000000))",
    );
    assert!(status == 422 && body.contains("memory"), "{status} {body}");

    // 2. Past its timeout, a query stops using the processor at once, and
    // the dashboards answer while it runs.
    // About 9·10^10 pairs: far longer than the 4 s timeout on any machine
    // (a fast one counted a tenth of it in 3.3 s).
    let heavy = "SELECT count(*) FROM unnest(range(1, 3000000)) a, unnest(range(1, 30000)) b";
    let t = std::thread::spawn({
        let token = token.clone();
        move || {
            let started = Instant::now();
            let r = sql(port, &token, heavy);
            (r, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let (status, _, _) = http(port, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "healthz waited");
    let ((status, body), elapsed) = t.join().unwrap();
    assert_eq!(status, 408, "{body}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let started = Instant::now();
    loop {
        // Ten ticks = 0.1 s of processor time in half a second: idle.
        if busy(pid, Duration::from_millis(500)) < 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still busy two seconds after the timeout"
        );
    }
    for w in workers(pid) {
        assert!(
            proc_status_kb(w, "VmSize:") <= 1024 * 1024,
            "worker {w} over its bound"
        );
    }
    // The next query works (a fresh worker).
    let (status, body) = sql(port, &token, "SELECT 2 AS two");
    assert_eq!(status, 200, "{body}");

    // 3. A flood of huge queries erases no earlier entry and adds little.
    let before = std::fs::read_to_string(&audit).unwrap();
    let huge = format!("SELECT '{}'", "x".repeat(1_500_000));
    for _ in 0..20 {
        let (status, _) = sql(port, &token, &huge);
        assert_eq!(status, 413);
    }
    let after = std::fs::read_to_string(&audit).unwrap();
    assert!(after.starts_with(&before), "earlier entries kept");
    let added = after.len() - before.len();
    assert!(added < 20 * 4096, "{added} bytes for 20 refused queries");
    let last: serde_json::Value = serde_json::from_str(after.lines().last().unwrap()).unwrap();
    assert_eq!(last["what_bytes"], huge.len());
    assert_eq!(last["outcome"], "too_long");
}
