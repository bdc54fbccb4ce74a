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

/// A server with the small store, an analyst `lan` and the Postgres port:
/// the process, the port, lan's password and the audit log's path.
fn start_server(dir: &std::path::Path) -> (Killed, u16, String, std::path::PathBuf) {
    small_store_with_content(dir);
    let users = dir.join("users.toml");
    let (password, _) = UsersFile::add_user(&users, "lan", Role::Analyst).unwrap();
    let audit = dir.join("audit.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--pg",
            "127.0.0.1:0",
            "--store",
        ])
        .arg(dir.join("store"))
        .arg("--users")
        .arg(&users)
        .arg("--audit-log")
        .arg(&audit)
        .current_dir(dir)
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let server = Killed(child);
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
    (server, port, password, audit)
}

/// Whether a client program is there; a failure when CI requires it.
fn have(program: &str, version_arg: &str, require_var: &str, package: &str) -> bool {
    if Command::new(program).arg(version_arg).output().is_ok() {
        return true;
    }
    if std::env::var(require_var).is_ok_and(|v| v == "1") {
        panic!("{require_var}=1 but {program} is missing (apt-get install {package})");
    }
    eprintln!("skipped: no {program}");
    false
}

#[test]
fn psql_logs_in_queries_and_is_refused_ddl() {
    if !have(
        "psql",
        "--version",
        "VIGIL_REQUIRE_PSQL",
        "postgresql-client",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, password, audit) = start_server(dir.path());

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

    // psql's own catalog queries describe the role's tables.
    let d = psql(port, "lan", &password, "\\d cases");
    let described = String::from_utf8_lossy(&d.stdout);
    assert!(
        described.contains("requester_ref") && !described.contains("requester_name"),
        "{described}{}",
        String::from_utf8_lossy(&d.stderr)
    );
    // Client settings are acknowledged; the engine's are refused.
    let set_app = psql(port, "lan", &password, "SET application_name = 'report'");
    assert!(set_app.status.success());
    let set_df = psql(
        port,
        "lan",
        &password,
        "SET datafusion.execution.batch_size = 1",
    );
    assert!(String::from_utf8_lossy(&set_df.stderr).contains("SET is not allowed"));

    // The connection's own as-of date: before the only extract there is
    // nothing to read, and DEFAULT goes back to the latest.
    let as_of = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "lan",
            "-d",
            "vigil",
        ])
        .args(["-X", "-A", "-t"])
        .args([
            "-c",
            "SET vigil.as_of = '2026-11-30'",
            "-c",
            "SHOW vigil.as_of",
        ])
        .args(["-c", "SELECT count(*) FROM cases"])
        .args([
            "-c",
            "SET vigil.as_of = '2026-09-30'",
            "-c",
            "SELECT count(*) FROM cases",
        ])
        .args([
            "-c",
            "SET vigil.as_of TO DEFAULT",
            "-c",
            "SELECT count(*) FROM cases",
        ])
        .env("PGPASSWORD", &password)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&as_of.stdout),
        String::from_utf8_lossy(&as_of.stderr),
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.is_empty() && *l != "SET")
        .collect();
    assert_eq!(lines, ["2026-11-30", "2", "2"], "{out}{err}");
    assert!(err.contains("no extract on or before"), "{err}");

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

/// The JDBC driver (what DBeaver and Metabase connect with) through the
/// extended query protocol: metadata from pg_catalog, a prepared statement
/// with a bound parameter, a write refused.
#[test]
fn jdbc_lists_tables_binds_parameters_and_is_refused_writes() {
    const JAR: &str = "/usr/share/java/postgresql.jar";
    let require = std::env::var("VIGIL_REQUIRE_JDBC").is_ok_and(|v| v == "1");
    if !std::path::Path::new(JAR).exists() {
        assert!(
            !require,
            "VIGIL_REQUIRE_JDBC=1 but {JAR} is missing (apt-get install libpostgresql-jdbc-java)"
        );
        eprintln!("skipped: no JDBC driver");
        return;
    }
    if !have(
        "java",
        "-version",
        "VIGIL_REQUIRE_JDBC",
        "default-jre-headless",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, password, audit) = start_server(dir.path());
    let out = Command::new("java")
        .args(["-cp", JAR])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/jdbc/Probe.java"
        ))
        .args([&port.to_string(), "lan", &password])
        .output()
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no '{key}' in {stdout}"))
            .to_string()
    };
    assert_eq!(line("product: "), "PostgreSQL");
    let tables: Vec<String> = line("tables: ").split(' ').map(String::from).collect();
    for t in ["cases", "case_events", "stages", "league_table"] {
        assert!(tables.iter().any(|x| x == t), "{t} not listed: {tables:?}");
    }
    // The small store holds one complaint and one denunciation.
    assert_eq!(line("count complaint: "), "1");
    assert_eq!(line("count denunciation: "), "1");
    assert_eq!(line("two: "), "2");
    let drop = line("drop: ");
    assert!(
        drop.starts_with("refused") && drop.contains("not allowed"),
        "{drop}"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("case_type = $1"), "{log}");
}
