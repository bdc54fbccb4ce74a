//! Helpers shared by the integration tests: small extracts written as real
//! files, store snapshots, and SQL over a real store.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use vigil::extract::pseudonym::Key;
use vigil::reference::Reference;
use vigil::store::Store;

pub mod moto;

pub const TEST_KEY: &[u8] = b"integration-test-key-0123456789";

pub fn key() -> Key {
    Key::new(TEST_KEY.to_vec()).unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes an extract folder with a manifest and the given files.
pub fn write_extract(root: &Path, date: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(date);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        format!(r#"{{"extract_date": "{date}", "source": "test"}}"#),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

pub const UNITS: &str = "unit_code,unit_name,level,province_code,valid_from,valid_to\n\
U1,BHXH Hà Nội,province,01,2016-01-01,\n\
U2,BHXH cơ sở Cao Bằng,local,04,2016-01-01,\n";

pub const CASE_HEADER: &str = "case_id,unit_code,received_at,channel,case_type,round,complexity,remote_area,multi_party,requester_name,requester_id_number,content_summary,result_summary,attachments_count";

/// Every file under a directory (not the folders), sorted; none when the
/// directory is not there (a folder removed while it is read is skipped).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", d.display()),
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every file under a directory with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_in(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != ".lock"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.strip_prefix(dir).unwrap().to_path_buf(), bytes)
        })
        .collect()
}

pub fn ingest(store: &Store, dir: &Path) -> anyhow::Result<vigil::extract::ingest::Outcome> {
    vigil::extract::run::ingest_extract(store, dir, &key(), &Reference::bundled())
}

/// Runs SQL over the store as of a date and returns the rows as text lines.
pub fn query(store: &Store, as_of: Option<&str>, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = SessionContext::new();
        store
            .register(&ctx, as_of.map(|d| d.parse().unwrap()))
            .await
            .unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = pretty_format_batches(&batches).unwrap().to_string();
        // Drop the table borders, keep one line per row.
        text.lines()
            .filter(|l| l.starts_with('|'))
            .skip(1)
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    })
}

/// A small store: two units, a complaint and a denunciation with content.
pub fn small_store_with_content(root: &Path) -> Store {
    let cases = format!(
        "{CASE_HEADER}\n\
         K1,U1,2026-07-06 09:00,in_person,complaint,1,normal,false,false,Trần Thị Hoa,079200001111,khiếu nại về chế độ,đã trả lời,1\n\
         T1,U1,2026-07-07 09:00,mail,denunciation,,normal,false,false,Lê Văn Nam,079200002222,tố cáo cán bộ X,kết luận Y,2\n"
    );
    let sessions = "session_id,unit_code,session_date,kind,host_role,host_ref,citizens_count,cases_raised,db_entered_at\n\
                    S1,U1,2026-07-15,periodic,head,H1,3,1,2026-07-15 16:00\n";
    let s = Store::open(root.join("store")).unwrap();
    let dir = write_extract(
        &root.join("x"),
        "2026-10-31",
        &[
            ("units.csv", UNITS),
            ("cases.csv", &cases),
            ("reception_sessions.csv", sessions),
        ],
    );
    ingest(&s, &dir).unwrap();
    s
}

/// A child process killed and reaped when dropped (a server under test).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The port a server prints after `prefix` on one of its output lines
/// (`vigil is serving on http://127.0.0.1:` …), reading up to that line.
pub fn port_after(lines: &mut impl Iterator<Item = std::io::Result<String>>, prefix: &str) -> u16 {
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the server never printed {prefix:?}"))
            .unwrap();
        if let Some(i) = line.find(prefix) {
            let rest = &line[i + prefix.len()..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            return digits.parse().unwrap();
        }
    }
}

/// One HTTP/1.1 request over a fresh connection: the status, headers
/// (lower-case names) and body; status 0 when the connection failed.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, std::collections::HashMap<String, String>, String) {
    use std::io::{Read, Write};
    let mut reply = Vec::new();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let sent = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
        s.set_read_timeout(Some(std::time::Duration::from_secs(300)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        s.read_to_end(&mut reply)
    });
    if let Err(e) = sent {
        return (0, Default::default(), e.to_string());
    }
    let reply = String::from_utf8_lossy(&reply).to_string();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// A field of `/proc/<pid>/status`, in kB (0 when the process is gone).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A `vigil serve` just spawned with its standard output piped: the guard
/// that stops it, its process id and the port of its web service (the
/// rest of its output is drained in the background).
pub fn web_server(mut child: std::process::Child) -> (Killed, u32, u16) {
    use std::io::BufRead;
    let pid = child.id();
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let guard = Killed(child);
    let port = port_after(&mut lines, "serving on http://127.0.0.1:");
    std::thread::spawn(move || for _ in lines {});
    (guard, pid, port)
}

/// The standard output of a command that must succeed.
pub fn stdout_of(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A copy of the bundled sample series ingested extract by extract (with
/// [`ingest`], as a test would), in `dest`; returns the store there.
///
/// Ingesting the 59 sample extracts takes about 20 s of CPU in the test
/// build, and a dozen tests only need the result. The series is ingested
/// once per build of vigil into the tests' scratch folder under `target/`
/// and copied from there. Its name is derived from the vigil binary built
/// with these tests and from the sample files, so a change to either
/// ingests afresh; a copy is never shared, so a test may write to its own.
pub fn sample_store_in(dest: &Path) -> Store {
    copy_tree(&sample_store_master(), dest);
    Store::open_existing(dest).unwrap()
}

fn sample_store_master() -> PathBuf {
    use std::sync::Mutex;
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sample-store");
    let master = root.join(sample_store_key());
    if master.join("catalog.json").exists() {
        return master;
    }
    std::fs::create_dir_all(&root).unwrap();
    let building = tempfile::Builder::new()
        .prefix(".building-")
        .tempdir_in(&root)
        .unwrap();
    let store = Store::open(building.path().join("store")).unwrap();
    let extracts = repo().join("sample-data/extracts");
    for (_, d) in vigil::extract::ingest::extract_dirs(&extracts).unwrap() {
        ingest(&store, &d).unwrap();
    }
    drop(store);
    // Another test process may have finished the same series first; its
    // copy is as good as this one.
    if std::fs::rename(building.path().join("store"), &master).is_err() {
        assert!(master.join("catalog.json").exists(), "{}", master.display());
    }
    // Series of earlier builds are of no further use.
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let stale = e.path() != master && !e.file_name().to_string_lossy().starts_with('.');
        if stale {
            std::fs::remove_dir_all(e.path()).ok();
        }
    }
    master
}

/// Names the sample series by what it depends on: the vigil binary of
/// this build (size and modification time: cargo relinks it whenever the
/// library changes) and every sample file (path, size, modification time).
fn sample_store_key() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let stat = |p: &Path, h: &mut std::collections::hash_map::DefaultHasher| {
        let m = std::fs::metadata(p).unwrap();
        (p, m.len(), m.modified().unwrap()).hash(h);
    };
    stat(Path::new(env!("CARGO_BIN_EXE_vigil")), &mut h);
    for f in files_in(&repo().join("sample-data/extracts")) {
        stat(&f, &mut h);
    }
    format!("{:016x}", h.finish())
}

/// Copies every file under a folder into `to`, keeping their places.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for src in files_in(from) {
        let dst = to.join(src.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap();
    }
}
