//! The Postgres wire protocol with the real `psql` client against the real
//! binary: a password login, a query, DDL refused, a wrong password
//! refused. Without psql the test is skipped, unless
//! `VIGIL_REQUIRE_PSQL=1` (as in CI), where that is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use vigil::auth::UsersFile;
use vigil::sqlguard::Role;

use common::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn psql(port: u16, user: &str, password: &str, sql: &str) -> Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            "vigil",
        ])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "20")
        .output()
        .expect("psql runs")
}

#[test]
fn psql_logs_in_queries_and_is_refused_ddl() {
    if Command::new("psql").arg("--version").output().is_err() {
        if std::env::var("VIGIL_REQUIRE_PSQL").is_ok_and(|v| v == "1") {
            panic!("VIGIL_REQUIRE_PSQL=1 but psql is missing (apt-get install postgresql-client)");
        }
        eprintln!("skipped: no psql");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_store_with_content(dir.path());
    let users = dir.path().join("users.toml");
    let (password, _) = UsersFile::add_user(&users, "lan", Role::Analyst).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--pg",
            "127.0.0.1:0",
            "--store",
        ])
        .arg(dir.path().join("store"))
        .arg("--users")
        .arg(&users)
        .arg("--audit-log")
        .arg(&audit)
        .current_dir(dir.path())
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = Killed(child);
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("the server prints the Postgres port")
            .unwrap();
        if let Some(rest) = line.strip_prefix("Postgres clients: psql -h 127.0.0.1 -p ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let ok = psql(port, "lan", &password, "SELECT count(*) AS n FROM cases");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stdout.trim(), "2");
    // Analysts do not read denunciation content, over this port either.
    let masked = psql(
        port,
        "lan",
        &password,
        "SELECT coalesce(content_summary, '(hidden)') FROM cases WHERE case_id = 'T1'",
    );
    assert_eq!(String::from_utf8_lossy(&masked.stdout).trim(), "(hidden)");

    let ddl = psql(port, "lan", &password, "DROP TABLE cases");
    assert!(!ddl.status.success());
    let err = String::from_utf8_lossy(&ddl.stderr);
    assert!(err.contains("DROP is not allowed"), "{err}");
    let ext = psql(
        port,
        "lan",
        &password,
        "CREATE EXTERNAL TABLE pw (l VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
    );
    assert!(String::from_utf8_lossy(&ext.stderr).contains("not allowed"));

    for (user, pw) in [("lan", "wrong"), ("lan", ""), ("nobody", password.as_str())] {
        let bad = psql(port, user, pw, "SELECT 1");
        assert!(!bad.status.success(), "{user}/{pw} must not log in");
        let err = String::from_utf8_lossy(&bad.stderr).to_lowercase();
        assert!(err.contains("password"), "{err}");
    }
    // The queries are in the audit log with the user.
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.contains("\"user\":\"lan\"") && log.contains("DROP TABLE cases"),
        "{log}"
    );
}
