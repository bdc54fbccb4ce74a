//! Data-quality feedback, end to end with the real binary: the sample
//! extracts and the dirty one ingested into a temporary store, `vigil
//! feedback` writing a file per province, and the page and downloads of a
//! running server.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use vigil::present::i18n::Lang;
use vigil::score::feedback::words;

use common::*;

const DIRTY: &str = "2026-11-15";

fn vigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.env("VIGIL_HMAC_KEY", std::str::from_utf8(TEST_KEY).unwrap());
    c
}

/// The store fingerprint `vigil status` prints as of the dirty extract.
fn fingerprint() -> String {
    let status = stdout_of(
        vigil()
            .args(["status", "--as-of", DIRTY, "--store"])
            .arg(store()),
    );
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("store fingerprint as of {DIRTY}: ")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{status}"))
        .to_string()
}

/// The sample series, then the dirty extract ingested once by the binary.
fn store() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("vigil-feedback-")
            .tempdir()
            .unwrap()
            .keep();
        let store = dir.join("store");
        sample_store_in(&store);
        stdout_of(
            vigil()
                .arg("ingest")
                .arg("--store")
                .arg(&store)
                .arg(repo().join("sample-data/dirty")),
        );
        store
    })
}

/// `vigil feedback` on the dirty extract into a fresh folder.
fn feedback(args: &[&str]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let out = tempfile::tempdir().unwrap();
    stdout_of(
        vigil()
            .args(["feedback", "--extract", DIRTY, "--store"])
            .arg(store())
            .arg("--out")
            .arg(out.path())
            .args(args),
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    (out, files)
}

/// Every record of a sectioned CSV.
fn records(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Every entry of a workbook, inflated.
fn unzipped(path: &Path) -> Vec<u8> {
    let out = Command::new("unzip").arg("-p").arg(path).output().unwrap();
    assert!(out.status.success(), "unzip {}", path.display());
    out.stdout
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One quarantined row as the store keeps it.
#[derive(Debug)]
struct Stored {
    table: String,
    file: String,
    line: u64,
    column: Option<String>,
    kind: String,
}

fn stored_quarantine() -> Vec<Stored> {
    let path = store()
        .join("extracts")
        .join(DIRTY)
        .join("quarantine.parquet");
    rt().block_on(async {
        let ctx = SessionContext::new();
        let batches = ctx
            .read_parquet(path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut out = Vec::new();
        for b in batches {
            let s = |n: &str| {
                let c = b.column_by_name(n).unwrap();
                datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Utf8)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (table, file, column, kind) = (
                s("table_name"),
                s("file"),
                s("column_name"),
                s("reason_kind"),
            );
            let line = b
                .column_by_name("line")
                .unwrap()
                .as_primitive::<UInt64Type>();
            for i in 0..b.num_rows() {
                out.push(Stored {
                    table: table.value(i).into(),
                    file: file.value(i).into(),
                    line: line.value(i),
                    column: column.is_valid(i).then(|| column.value(i).to_string()),
                    kind: kind.value(i).into(),
                });
            }
        }
        out
    })
}

/// The raw requester names, id numbers and summaries of the dirty
/// extract and of the last sample extract.
fn personal_values() -> Vec<String> {
    let last = vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts"))
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let mut values = Vec::new();
    let mut keep = |v: &str| {
        if v.trim().chars().count() >= 5 {
            values.push(v.trim().to_string());
        }
    };
    for dir in [repo().join("sample-data/dirty").join(DIRTY), last] {
        let csv = dir.join("cases.csv");
        if csv.exists() {
            let mut r = csv::Reader::from_path(&csv).unwrap();
            let header = r.headers().unwrap().clone();
            let idx: Vec<usize> = vigil::reference::contract::SENSITIVE
                .iter()
                .filter_map(|c| header.iter().position(|h| h == *c))
                .collect();
            for rec in r.records() {
                let rec = rec.unwrap();
                idx.iter().for_each(|i| keep(&rec[*i]));
            }
        } else {
            parquet_values(&dir.join("cases.parquet"), &mut keep);
        }
    }
    values
}

fn parquet_values(path: &Path, keep: &mut impl FnMut(&str)) {
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    rt().block_on(async {
        let ctx = SessionContext::new();
        let df = ctx
            .read_parquet(path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        let present: Vec<&str> = vigil::reference::contract::SENSITIVE
            .into_iter()
            .filter(|c| df.schema().field_with_unqualified_name(c).is_ok())
            .collect();
        assert!(!present.is_empty(), "{}", path.display());
        for b in df
            .select_columns(&present)
            .unwrap()
            .collect()
            .await
            .unwrap()
        {
            for c in b.columns() {
                let c = cast(c, &DataType::Utf8).unwrap();
                let c = c.as_string::<i32>();
                (0..c.len())
                    .filter(|i| c.is_valid(*i))
                    .for_each(|i| keep(c.value(i)));
            }
        }
    });
}

#[test]
fn every_quarantined_row_reaches_its_province_with_its_reason_and_no_identity_leaks() {
    let (_dir, files) = feedback(&[]);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 2 * 35, "{names:?}");
    assert!(names.contains(&format!("phan-hoi-{DIRTY}-24-bac-ninh.xlsx")));
    assert!(names.contains(&format!("phan-hoi-{DIRTY}-01-ha-noi.csv")));
    assert!(names.contains(&format!("phan-hoi-{DIRTY}-toan-quoc.csv")));

    // Every quarantined row is in exactly one file, with its reason.
    let fingerprint = fingerprint();
    let csvs: BTreeMap<String, Vec<Vec<String>>> = files
        .iter()
        .filter(|p| p.extension().unwrap() == "csv")
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, records(p))
        })
        .collect();
    let stored = stored_quarantine();
    assert_eq!(stored.len(), 63);
    let mut home: BTreeMap<(String, u64), String> = BTreeMap::new();
    for q in &stored {
        let (what, rule) = words::reason(Lang::Vi, &q.table, q.column.as_deref(), &q.kind);
        let holders: Vec<&String> = csvs
            .iter()
            .filter(|(_, recs)| {
                recs.iter().any(|r| {
                    r.len() == 6
                        && r[0] == q.file
                        && r[1] == q.line.to_string()
                        && r[2] == q.column.clone().unwrap_or_default()
                        && r[4] == what
                        && r[5] == rule
                })
            })
            .map(|(name, _)| name)
            .collect();
        assert_eq!(holders.len(), 1, "{q:?} in {holders:?}");
        home.insert((q.file.clone(), q.line), holders[0].clone());
    }
    let at = |file: &str, line: u64| home[&(file.to_string(), line)].as_str();
    let hanoi = format!("phan-hoi-{DIRTY}-01-ha-noi.csv");
    let tuyen_quang = format!("phan-hoi-{DIRTY}-08-tuyen-quang.csv");
    let national = format!("phan-hoi-{DIRTY}-toan-quoc.csv");
    // A session of a stored unit; an event of a case quarantined alongside.
    assert_eq!(at("reception_sessions.csv", 6), hanoi);
    assert_eq!(at("case_events.csv", 6), hanoi);
    // A unit sent with the pre-merger code of Hà Giang, now Tuyên Quang.
    assert_eq!(at("units.csv", 13), tuyen_quang);
    // No unit, no case, no province code: national.
    assert_eq!(at("reception_sessions.csv", 4), national);
    assert_eq!(at("units.csv", 16), national);
    assert_eq!(at("units.csv", 9), national);

    // Every file names the extract and the store it was computed from.
    for (name, recs) in &csvs {
        assert!(recs[0][0].contains(DIRTY), "{name}");
        assert!(recs[0][0].contains(&fingerprint), "{name}");
    }

    // No raw identity or summary in any file, inflated workbooks included.
    let values = personal_values();
    assert!(values.iter().any(|v| v == "Nguyễn Văn Bí Mật"));
    assert!(values.iter().any(|v| v == "079123456789"));
    assert!(values.len() > 10, "{}", values.len());
    for f in &files {
        let bytes = if f.extension().unwrap() == "xlsx" {
            let inflated = unzipped(f);
            let text = String::from_utf8_lossy(&inflated);
            assert!(text.contains(&fingerprint), "{}", f.display());
            inflated
        } else {
            std::fs::read(f).unwrap()
        };
        let text = String::from_utf8_lossy(&bytes);
        for v in &values {
            assert!(!text.contains(v.as_str()), "{} holds {v:?}", f.display());
        }
    }
}

#[test]
fn one_province_in_english() {
    let (_dir, files) = feedback(&["--province", "01", "--lang", "en"]);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        [
            format!("feedback-{DIRTY}-01-ha-noi.csv"),
            format!("feedback-{DIRTY}-01-ha-noi.xlsx")
        ]
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("Quarantined rows"), "{text}");
    assert!(text.contains("The value in column kind is not one of: periodic, irregular"));
    assert!(text.contains("Records entered late in the national database"));
    assert!(text.contains("Rows sent,60,"), "{text}");
    let out = vigil()
        .args(["feedback", "--extract", "2026-11-14", "--store"])
        .arg(store())
        .args(["--out", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no extract dated 2026-11-14"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn serve(users: Option<&Path>) -> (Killed, u16) {
    let mut c = vigil();
    c.args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(store())
        .current_dir(store().parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(u) = users {
        c.arg("--users").arg(u);
    }
    let (guard, _, port) = web_server(c.spawn().unwrap());
    (guard, port)
}

#[test]
fn the_page_and_its_downloads_match_the_files_sent() {
    let (_server, port) = serve(None);
    let (status, _, page) = http(
        port,
        "GET",
        &format!("/d/feedback?extract={DIRTY}&province=01"),
        &[],
        "",
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Dòng bị cách ly"));
    assert!(page.contains("DS-KIND"));
    assert!(page.contains("Thụ lý vụ việc"), "a late entry is listed");
    assert!(page.contains(&fingerprint()));
    assert!(!page.contains("Nguyễn Văn Bí Mật"));

    let (status, _, en) = http(
        port,
        "GET",
        &format!("/d/feedback?extract={DIRTY}"),
        &[("Cookie", "lang=en")],
        "",
    );
    assert_eq!(status, 200);
    assert!(en.contains("Quarantined rows not attributable to a province"));
    assert!(en.contains("DS-NOUNIT"));

    let (_dir, files) = feedback(&["--province", "01"]);
    let (status, headers, csv) = http(
        port,
        "GET",
        &format!("/d/feedback/report.csv?extract={DIRTY}&province=01"),
        &[],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        headers["content-disposition"].contains(&format!("phan-hoi-{DIRTY}-01-ha-noi.csv")),
        "{headers:?}"
    );
    assert_eq!(csv, std::fs::read_to_string(&files[0]).unwrap());
    let (status, headers, _) = http(
        port,
        "GET",
        &format!("/d/feedback/report.xlsx?extract={DIRTY}&province=01"),
        &[],
        "",
    );
    assert_eq!(status, 200);
    assert!(headers["content-type"].contains("spreadsheetml"));

    for (uri, want) in [
        ("/d/feedback?extract=2020-01-01", 404),
        ("/d/feedback?extract=15-11-2026", 400),
        (&format!("/d/feedback?extract={DIRTY}&province=99"), 404),
        (&format!("/d/feedback/report.pdf?extract={DIRTY}"), 404),
    ] {
        let (status, _, body) = http(port, "GET", uri, &[], "");
        assert_eq!(status, want, "{uri}: {body}");
    }
}

#[test]
fn only_the_inspectorate_and_administrators_read_feedback() {
    use vigil::serve::auth::UsersFile;
    use vigil::serve::sqlguard::Role;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let mut tokens = BTreeMap::new();
    for role in [
        Role::Leadership,
        Role::Analyst,
        Role::Inspectorate,
        Role::Admin,
    ] {
        let (_, token) = UsersFile::add_user(&users, role.name(), role).unwrap();
        tokens.insert(role.name(), token);
    }
    let (_server, port) = serve(Some(&users));
    let uri = format!("/d/feedback/report.csv?extract={DIRTY}&province=01");
    let (status, _, _) = http(port, "GET", &uri, &[], "");
    assert_eq!(status, 303, "no login: to the login page");
    for (role, want) in [
        ("leadership", 403),
        ("analyst", 403),
        ("inspectorate", 200),
        ("admin", 200),
    ] {
        let auth = format!("Bearer {}", tokens[role]);
        for path in [uri.clone(), format!("/d/feedback?extract={DIRTY}")] {
            let (status, _, body) = http(port, "GET", &path, &[("Authorization", &auth)], "");
            assert_eq!(status, want, "{role} {path}: {body}");
        }
    }
}

#[test]
fn a_quarantine_written_before_it_kept_codes_still_reads() {
    // The quarantine of a store written by an earlier version has no
    // unit, case or province codes: its rows read with nulls there, and
    // go to the national report.
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let s = vigil::store::Store::open(dir.path().join("store")).unwrap();
    let sessions = "session_id,unit_code,session_date,kind,host_role,host_ref,citizens_count,cases_raised,db_entered_at\n\
                    S1,U1,2026-07-15,Periodic,head,H1,3,1,2026-07-15 16:00\n";
    let x = write_extract(
        &dir.path().join("x"),
        "2026-10-31",
        &[("units.csv", UNITS), ("reception_sessions.csv", sessions)],
    );
    ingest(&s, &x).unwrap();
    let path = dir
        .path()
        .join("store/extracts/2026-10-31/quarantine.parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader
        .map(|b| b.unwrap().project(&[0, 1, 2, 3, 4, 5, 6, 7]).unwrap())
        .collect();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    assert_eq!(
        query(&s, None, "SELECT primary_key, unit_code FROM quarantine"),
        ["S1,"]
    );
    let engine = vigil::score::scoring::Engine::bundled(s);
    let fb = rt()
        .block_on(vigil::score::feedback::Feedback::load(
            &engine,
            "2026-10-31".parse().unwrap(),
        ))
        .unwrap();
    use vigil::score::feedback::Scope;
    assert_eq!(fb.quarantined_rows(&Scope::National), 1);
    assert_eq!(fb.quarantined_rows(&Scope::Province("01".into())), 0);
}
