//! The Postgres wire protocol with the real `psql` client against the real
//! binary: a password login, a query, DDL refused, a wrong password
//! refused. Without psql the test is skipped, unless
//! `VIGIL_REQUIRE_PSQL=1` (as in CI), where that is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use vigil::serve::auth::UsersFile;
use vigil::serve::sqlguard::Role;

use common::*;

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
    let s = start(dir, &[("lan", Role::Analyst)], &[]);
    (s.process, s.pg, s.passwords[0].clone(), s.audit)
}

struct Server {
    process: Killed,
    pg: u16,
    web: u16,
    passwords: Vec<String>,
    audit: std::path::PathBuf,
}

/// A server with the small store, the given users and `extra` arguments.
fn start(dir: &std::path::Path, users: &[(&str, Role)], extra: &[&str]) -> Server {
    small_store_with_content(dir);
    let file = dir.join("users.toml");
    let passwords = users
        .iter()
        .map(|(name, role)| UsersFile::add_user(&file, name, *role).unwrap().0)
        .collect();
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
        .arg(&file)
        .arg("--audit-log")
        .arg(&audit)
        .args(extra)
        .current_dir(dir)
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let process = Killed(child);
    let pg: u16 = loop {
        let line = lines
            .next()
            .expect("the server prints the Postgres port")
            .unwrap();
        if let Some(rest) = line.strip_prefix("Postgres clients: psql -h 127.0.0.1 -p ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let web: u16 = loop {
        let line = lines.next().expect("the server prints its URL").unwrap();
        if let Some((_, rest)) = line.split_once("://127.0.0.1:") {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        process,
        pg,
        web,
        passwords,
        audit,
    }
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

/// A bare Postgres frontend, to send what a hostile client would: messages
/// out of order, binary parameters, concurrent logins.
struct Raw(std::net::TcpStream);

/// A backend message: its type and body.
type Msg = (u8, Vec<u8>);

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        Raw(s)
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        // The server may already have closed: that is an answer too.
        self.0.write_all(bytes).ok();
    }

    fn send(&mut self, tag: u8, body: &[u8]) {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        self.write(&m);
    }

    fn startup(&mut self, user: &str) {
        let mut body = 196_608i32.to_be_bytes().to_vec();
        for kv in ["user", user, "database", "vigil"] {
            body.extend_from_slice(kv.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        m.extend_from_slice(&body);
        self.write(&m);
    }

    /// The next message; `None` when the server closed the connection.
    fn read(&mut self) -> Option<Msg> {
        use std::io::Read;
        let mut head = [0u8; 5];
        self.0.read_exact(&mut head).ok()?;
        let len = i32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        self.0.read_exact(&mut body).ok()?;
        Some((head[0], body))
    }

    /// Messages up to ReadyForQuery (included) or the connection's end.
    fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(m) = self.read() {
            let ready = m.0 == b'Z';
            out.push(m);
            if ready {
                break;
            }
        }
        out
    }

    fn password(&mut self, pw: &str) {
        let mut body = pw.as_bytes().to_vec();
        body.push(0);
        self.send(b'p', &body);
    }

    /// Startup and password: `Ok` once ready for queries, else the error.
    fn login(port: u16, user: &str, pw: &str) -> Result<Raw, String> {
        let mut c = Raw::connect(port);
        c.startup(user);
        match c.read() {
            Some((b'R', body)) if body == 3i32.to_be_bytes() => {}
            other => return Err(format!("no password request: {other:?}")),
        }
        c.password(pw);
        let msgs = c.until_ready();
        match error_of(&msgs) {
            Some(e) => Err(e),
            None if msgs.last().is_some_and(|m| m.0 == b'Z') => Ok(c),
            None => Err("closed".into()),
        }
    }

    fn query(&mut self, sql: &str) -> Vec<Msg> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body);
        self.until_ready()
    }
}

/// `CODE: message` of the first ErrorResponse.
fn error_of(msgs: &[Msg]) -> Option<String> {
    let body = &msgs.iter().find(|m| m.0 == b'E')?.1;
    let mut code = String::new();
    let mut message = String::new();
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let text = String::from_utf8_lossy(&field[1..]).to_string();
        match field[0] {
            b'C' => code = text,
            b'M' => message = text,
            _ => {}
        }
    }
    Some(format!("{code}: {message}"))
}

/// The text of every field of every DataRow.
fn values(msgs: &[Msg]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, body) in msgs.iter().filter(|m| m.0 == b'D') {
        let n = i16::from_be_bytes(body[0..2].try_into().unwrap());
        let mut at = 2;
        for _ in 0..n {
            let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
            at += 4;
            if len >= 0 {
                out.push(String::from_utf8_lossy(&body[at..at + len as usize]).to_string());
                at += len as usize;
            }
        }
    }
    out
}

#[test]
fn the_postgres_port_holds_against_hostile_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[("lan", Role::Analyst), ("ins", Role::Inspectorate)],
        &["--login-failures", "3"],
    );
    let (port, lan, ins) = (server.pg, &server.passwords[0], &server.passwords[1]);

    // An SSLRequest without TLS configured is answered 'N', then the
    // startup goes on in plain text.
    let mut c = Raw::connect(port);
    let mut ssl = 8i32.to_be_bytes().to_vec();
    ssl.extend_from_slice(&80_877_103i32.to_be_bytes());
    c.write(&ssl);
    let mut answer = [0u8; 1];
    std::io::Read::read_exact(&mut c.0, &mut answer).unwrap();
    assert_eq!(&answer, b"N");

    // A query before the password ends the connection with no answer.
    let mut c = Raw::connect(port);
    c.startup("lan");
    assert_eq!(c.read().unwrap().0, b'R');
    let msgs = c.query("SELECT count(*) FROM cases");
    assert!(values(&msgs).is_empty(), "{msgs:?}");
    assert!(error_of(&msgs).unwrap().starts_with("08P01"), "{msgs:?}");
    assert!(c.read().is_none(), "closed");

    // A password with no startup logs nobody in.
    let mut c = Raw::connect(port);
    c.password(lan);
    let msgs = c.query("SELECT count(*) FROM cases");
    assert!(values(&msgs).is_empty(), "{msgs:?}");

    // Extreme dates answer errors and the connection goes on: a cast and a
    // binary DATE parameter of 0x7fffffff over the extended protocol.
    let mut c = Raw::login(port, "lan", lan).unwrap();
    let e = error_of(&c.query("SELECT cast(2147483647 AS date)")).unwrap();
    assert!(e.starts_with("22008") && e.contains("out of range"), "{e}");
    let mut parse = b"\0SELECT $1 AS d\0".to_vec();
    parse.extend_from_slice(&1i16.to_be_bytes());
    parse.extend_from_slice(&1082i32.to_be_bytes()); // date
    c.send(b'P', &parse);
    let mut bind = b"\0\0".to_vec();
    bind.extend_from_slice(&1i16.to_be_bytes());
    bind.extend_from_slice(&1i16.to_be_bytes()); // binary
    bind.extend_from_slice(&1i16.to_be_bytes());
    bind.extend_from_slice(&4i32.to_be_bytes());
    bind.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
    bind.extend_from_slice(&0i16.to_be_bytes());
    c.send(b'B', &bind);
    c.send(b'E', b"\0\0\0\0\0");
    c.send(b'S', b"");
    let e = error_of(&c.until_ready()).unwrap();
    assert!(e.starts_with("22008"), "{e}");
    assert_eq!(
        values(&c.query("SELECT 41 + 1")),
        ["42"],
        "the connection survives"
    );
    // Several statements in one text are refused, a session command first too.
    let e = error_of(&c.query("SET application_name = 'x'; SELECT 1")).unwrap();
    assert!(e.contains("2 statements"), "{e}");

    // Concurrent logins as different users never share a role: the
    // analyst never sees denunciation content, the inspectorate always
    // does, a wrong password never gets in.
    let sql = "SELECT coalesce(content_summary, '(hidden)') FROM cases WHERE case_id = 'T1'";
    let threads: Vec<_> = (0..9)
        .map(|i| {
            let (lan, ins) = (lan.clone(), ins.clone());
            std::thread::spawn(move || match i % 3 {
                0 => values(&Raw::login(port, "lan", &lan).unwrap().query(sql)),
                1 => values(&Raw::login(port, "ins", &ins).unwrap().query(sql)),
                _ => vec![Raw::login(port, "ins", "wrong").err().unwrap()],
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let v = t.join().unwrap();
        match i % 3 {
            0 => assert_eq!(v, ["(hidden)"]),
            1 => assert_ne!(v, ["(hidden)"], "{v:?}"),
            _ => assert!(v[0].starts_with("28P01"), "{v:?}"),
        }
    }

    // Past three failures the user is locked, the right password too.
    let mut e = String::new();
    for _ in 0..4 {
        e = Raw::login(port, "lan", "wrong").err().unwrap();
    }
    assert!(e.starts_with("28P01"), "{e}");
    let e = Raw::login(port, "lan", lan).err().unwrap();
    assert!(e.contains("too many failed logins"), "{e}");
    let log = std::fs::read_to_string(&server.audit).unwrap();
    assert!(log.contains("\"outcome\":\"throttled\""), "{log}");
}

/// A throwaway certificate for localhost and 127.0.0.1 (made with the
/// openssl command, as an operator would), and its key.
fn throwaway_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[test]
fn tls_for_curl_psql_and_jdbc() {
    if !have(
        "psql",
        "--version",
        "VIGIL_REQUIRE_PSQL",
        "postgresql-client",
    ) || !have("openssl", "version", "VIGIL_REQUIRE_PSQL", "openssl")
        || !have("curl", "--version", "VIGIL_REQUIRE_PSQL", "curl")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = throwaway_certificate(dir.path());
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let server = start(
        dir.path(),
        &[("lan", Role::Analyst)],
        &["--tls-cert", &cert_s, "--tls-key", &key_s],
    );
    let (pg, web, password) = (server.pg, server.web, server.passwords[0].clone());

    // HTTPS, verified against the certificate; the session cookie is Secure.
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-S", "--max-time", "60", "--cacert", &cert_s])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let health = curl(&[&format!("https://localhost:{web}/healthz")]);
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let login = curl(&[
        "-i",
        "--data-urlencode",
        "name=lan",
        "--data-urlencode",
        &format!("password={password}"),
        &format!("https://localhost:{web}/login"),
    ]);
    let cookie = login
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: vigil_session=")
        })
        .unwrap_or_else(|| panic!("{login}"));
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets no page.
    let plain = curl(&[&format!("http://127.0.0.1:{web}/healthz")]);
    assert!(!plain.contains("\"status\":\"ok\""), "{plain}");

    // psql with sslmode=require: the connection is encrypted.
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={pg} user=lan dbname=vigil sslmode=require"
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM cases",
            "-c",
            "\\conninfo",
        ])
        .env("PGPASSWORD", &password)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("2\n") && text.contains("SSL connection"),
        "{text}"
    );

    // The JDBC driver with sslmode=require.
    const JAR: &str = "/usr/share/java/postgresql.jar";
    if std::path::Path::new(JAR).exists()
        && have(
            "java",
            "-version",
            "VIGIL_REQUIRE_JDBC",
            "default-jre-headless",
        )
    {
        let out = Command::new("java")
            .args(["-cp", JAR])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/jdbc/Probe.java"
            ))
            .args([&pg.to_string(), "lan", &password, "require"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("two: 2"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var("VIGIL_REQUIRE_JDBC").is_err(),
            "VIGIL_REQUIRE_JDBC=1 but no JDBC driver"
        );
    }
    drop(server.process);
}
