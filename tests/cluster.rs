//! A vigil cluster on one machine: a real `moto_server` holding the sample
//! store, one `vigil cluster scheduler` and two `vigil cluster executor`
//! processes of the real binary, and the same store in a local folder
//! scored by one process to compare with, byte for byte.
//!
//! Needs moto (see tests/s3.rs); CI sets VIGIL_REQUIRE_S3=1.

mod common;

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::moto::{BUCKET, Moto};
use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler on a port of its choosing; returns it and that port.
fn scheduler(m: &Moto, tmp: &Path) -> (Killed, u16) {
    let mut c = m.vigil(&tmp.join("scheduler-cache"));
    c.args(["cluster", "scheduler", "--bind", "127.0.0.1:0"])
        .args(["--executor-timeout-secs", "10"])
        .env("VIGIL_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log_file(&tmp.join("scheduler.log")));
    let mut child = c.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let guard = Killed(child);
    let port = port_after(&mut lines, "listening on 127.0.0.1:");
    std::thread::spawn(move || for _ in lines {});
    (guard, port)
}

/// An executor of the scheduler at `port`, its shuffle files in `work`.
fn executor(m: &Moto, tmp: &Path, port: u16, work: &Path) -> Killed {
    std::fs::create_dir_all(work).unwrap();
    let mut c = m.vigil(&tmp.join("executor-cache"));
    c.args(["cluster", "executor", "--scheduler"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--bind")
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["--grpc-port", &free_port().to_string()])
        .args(["--concurrent-tasks", "2", "--work-dir"])
        .arg(work)
        .env("VIGIL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file(&work.with_extension("log")));
    Killed(c.spawn().unwrap())
}

/// What is compared: `score` and `indicators` of a quarter and a year
/// (also as of an earlier date) and a guarded analyst query.
fn outputs(m: &Moto, cache: &Path, store: &str, cluster: Option<u16>) -> Vec<String> {
    let audit = cache.with_extension("audit.jsonl");
    let mut runs: Vec<Vec<String>> = [
        "score --period 2026-Q3",
        "score --period 2025 --format csv",
        "score --period 2025 --as-of 2025-08-15",
        "indicators --period 2026-Q3 --format csv",
        "indicators --period 2025 --format csv",
    ]
    .iter()
    .map(|a| a.split(' ').map(str::to_string).collect())
    .collect();
    runs.push(
        [
            "sql",
            "--role",
            "analyst",
            "--format",
            "csv",
            "--audit-log",
            audit.to_str().unwrap(),
            "-c",
            // Every period the context carries (a cluster scores three at
            // a time, each with its own parameters).
            "SELECT l.period, l.province_code, l.composite, count(u.unit_code) AS units, \
             sum(wd_between(DATE '2026-01-01', DATE '2026-03-31')) AS wd \
             FROM league_table l JOIN units u ON u.province_code = l.province_code \
             GROUP BY 1, 2, 3 ORDER BY 1, 2",
        ]
        .map(str::to_string)
        .to_vec(),
    );
    runs.iter()
        .map(|args| {
            let mut c = m.vigil(cache);
            c.args(args).args(["--store", store]);
            if let Some(p) = cluster {
                c.arg("--cluster").arg(format!("127.0.0.1:{p}"));
            }
            bounded_stdout(&mut c, cache.parent().unwrap())
        })
        .collect()
}

/// The sample series in a local folder (the tests' shared copy), and
/// ingested by the binary into the bucket.
fn stores(m: &Moto, tmp: &Path) -> (String, String) {
    let local = tmp.join("local");
    sample_store_in(&local);
    let remote = format!("s3://{BUCKET}/sample/store");
    let mut c = m.vigil(&tmp.join("ingest-cache"));
    c.arg("ingest")
        .arg(repo().join("sample-data/extracts"))
        .args(["--store", &remote]);
    stdout_of(&mut c);
    (local.to_str().unwrap().to_string(), remote)
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).unwrap()
}

/// The last lines of every server log under `tmp`, for a failure message.
fn logs(tmp: &Path) -> String {
    let mut out = String::new();
    for name in ["scheduler.log", "work-a.log", "work-b.log"] {
        let text = std::fs::read_to_string(tmp.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out += &format!("--- {name}\n");
        for l in &lines[lines.len().saturating_sub(40)..] {
            out += l;
            out += "\n";
        }
    }
    out
}

/// Waits for a client at most `limit`; kills it and fails, with the
/// servers' logs, if it is still running then (a hung cluster query).
fn finish(mut child: std::process::Child, limit: Duration, tmp: &Path) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the client was still running after {limit:?}\nstderr: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                logs(tmp)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `stdout_of`, bounded by `finish`.
fn bounded_stdout(c: &mut std::process::Command, tmp: &Path) -> String {
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, Duration::from_secs(180), tmp);
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs(tmp)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_cluster_scores_byte_for_byte_as_one_process() {
    let Some(m) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (local, remote) = stores(&m, tmp.path());
    let expected = outputs(&m, &tmp.path().join("unused"), &local, None);
    assert!(expected[0].lines().count() > 34, "{}", expected[0]);
    // 34 provinces × 11 periods (8 quarters, 3 years).
    assert!(expected[5].lines().count() > 34 * 11, "{}", expected[5]);

    let (_scheduler, port) = scheduler(&m, tmp.path());
    let works = [tmp.path().join("work-a"), tmp.path().join("work-b")];
    let _executors: Vec<Killed> = works
        .iter()
        .map(|w| executor(&m, tmp.path(), port, w))
        .collect();
    let got = outputs(&m, &tmp.path().join("client-cache"), &remote, Some(port));
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "output {i} differs on the cluster");
    }
    // Both executors ran tasks: each wrote shuffle files of its stages.
    for w in &works {
        assert!(!files_in(w).is_empty(), "{} ran no task", w.display());
    }
    // The web service on the cluster: its pages' scores and an analyst's
    // query (run by its query workers) as the local one answers them.
    let serve = |store: &str, cluster: Option<u16>, cache: &str| {
        let mut c = m.vigil(&tmp.path().join(cache));
        c.args(["serve", "--bind", "127.0.0.1:0", "--store", store])
            .arg("--audit-log")
            .arg(tmp.path().join(format!("{cache}.jsonl")))
            .current_dir(tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(p) = cluster {
            c.arg("--cluster").arg(format!("127.0.0.1:{p}"));
        }
        web_server(c.spawn().unwrap())
    };
    let (_a, _, on_cluster) = serve(&remote, Some(port), "serve-cache");
    let (_b, _, alone) = serve(&local, None, "serve-local");
    let sql = serde_json::json!({
        "sql": "SELECT province_code, composite, tier FROM league_table \
                WHERE period = '2026-Q3' ORDER BY province_code",
        "format": "csv"
    })
    .to_string();
    for (method, path, body) in [
        ("GET", "/api/league?period=2026-Q3", ""),
        ("GET", "/api/indicators?period=2025", ""),
        ("POST", "/api/sql", sql.as_str()),
    ] {
        let (s1, _, b1) = http(on_cluster, method, path, &[], body);
        let (s2, _, b2) = http(alone, method, path, &[], body);
        assert_eq!((s1, s2), (200, 200), "{path}: {b1} / {b2}");
        assert!(b1.len() > 300, "{path}: {b1}");
        assert_eq!(b1, b2, "{path} differs on the cluster");
    }

    // The guard keeps its rules on the cluster. No DDL: the command
    // refuses it before it builds a context.
    let mut c = m.vigil(&tmp.path().join("client-cache"));
    c.args(["sql", "--store", &remote, "--cluster"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--audit-log")
        .arg(tmp.path().join("audit.jsonl"))
        .args(["-c", "CREATE TABLE x AS SELECT 1"]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "CREATE ran on the cluster");
    assert!(err.contains("read-only"), "{err}");
    // No file tables: refused in planning, here by the web service on the
    // cluster, whose analyst context the query above built.
    let passwd = serde_json::json!({ "sql": "SELECT * FROM '/etc/passwd'" }).to_string();
    let (status, _, body) = http(on_cluster, "POST", "/api/sql", &[], &passwd);
    assert!((400..500).contains(&status), "{status}: {body}");
    assert!(body.contains("passwd") && !body.contains("root:"), "{body}");
    // Without a scheduler the command fails and says where it looked.
    let mut c = m.vigil(&tmp.path().join("client-cache"));
    c.args(["score", "--period", "2025", "--store", &remote, "--cluster"])
        .arg(format!("127.0.0.1:{}", free_port()));
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1"), "{err}");
}

#[test]
fn a_killed_executor_never_gives_a_wrong_answer() {
    let Some(m) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (local, remote) = stores(&m, tmp.path());
    let score = |store: &str, cluster: Option<u16>| {
        let mut c = m.vigil(&tmp.path().join("client-cache"));
        // A job Ballista leaves unfinished after the kill fails after a
        // minute, with a message, rather than waiting for ever.
        c.args(["indicators", "--period", "2025", "--format", "csv"])
            .args(["--store", store])
            .env("VIGIL_CLUSTER_TIMEOUT_SECS", "60");
        if let Some(p) = cluster {
            c.arg("--cluster").arg(format!("127.0.0.1:{p}"));
        }
        c
    };
    let expected = stdout_of(&mut score(&local, None));

    let (_scheduler, port) = scheduler(&m, tmp.path());
    let survivor = executor(&m, tmp.path(), port, &tmp.path().join("work-a"));
    let mut victim = executor(&m, tmp.path(), port, &tmp.path().join("work-b"));
    // Warm the client's cache so that the query starts at once.
    bounded_stdout(&mut score(&remote, Some(port)), tmp.path());

    // Killed as soon as it has written its first result of this query.
    let victim_work = tmp.path().join("work-b");
    let before = files_in(&victim_work).len();
    let mut c = score(&remote, Some(port));
    let mut client = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut mid_query = false;
    // The scheduler hands tasks out round-robin, so the victim gets its
    // share of this query's first stage; stop looking once the client ends.
    while started.elapsed() < Duration::from_secs(120) && client.try_wait().unwrap().is_none() {
        if files_in(&victim_work).len() > before {
            mid_query = client.try_wait().unwrap().is_none();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.0.kill().unwrap();
    let started = Instant::now();
    let out = finish(client, Duration::from_secs(180), tmp.path());
    assert!(
        mid_query,
        "the query ended before the executor could be killed"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{}",
            logs(tmp.path())
        );
    } else {
        assert!(err.contains("error:") && err.contains("cluster"), "{err}");
        assert!(out.stdout.is_empty(), "a failed query printed a result");
    }
    eprintln!(
        "after the kill: {} in {:.1} s",
        if out.status.success() {
            "same answer"
        } else {
            err.lines().last().unwrap_or("failed")
        },
        started.elapsed().as_secs_f64()
    );
    // The scheduler keeps serving, with the executor left.
    assert_eq!(
        bounded_stdout(&mut score(&remote, Some(port)), tmp.path()),
        expected
    );
    drop(survivor);
}
