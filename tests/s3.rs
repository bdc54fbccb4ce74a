//! A store on S3-compatible object storage: a real `moto_server` (PyPI
//! `moto[server]`) on a free loopback port, the real binary, and the same
//! sample store in a local folder to compare with.
//!
//! CI installs moto and sets VIGIL_REQUIRE_S3=1, which makes its absence a
//! failure; elsewhere the tests say they did not run.

mod common;

use std::path::{Path, PathBuf};

use common::moto::{BUCKET, Moto};
use common::*;
use vigil::store::Store;
use vigil::store::remote::Remote;

/// `vigil status` without its first line (the cache folder's path).
/// The status without its first line (where the store is) and with the
/// facts' generation masked: a run of many extracts commits them in groups,
/// one generation a group, and extracts ingested one by one take one each.
fn status(m: &Moto, cache: &Path, store: &str) -> String {
    let mut c = m.vigil(cache);
    c.args(["status", "--store", store]);
    let out = stdout_of(&mut c);
    let rest = out
        .split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(out);
    rest.lines()
        .map(|l| match l.split_once(", generation ") {
            Some((head, tail)) => {
                let after = tail.split_once(',').map_or("", |(_, a)| a);
                format!("{head}, generation _,{after}\n")
            }
            None => format!("{l}\n"),
        })
        .collect()
}

fn sample_extracts() -> Vec<PathBuf> {
    vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts"))
        .unwrap()
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

/// What the commands compared print: the scores and indicators of a
/// quarter and of a year (also as of an earlier date), the status, and an
/// analyst's query through the SQL guard.
fn outputs(m: &Moto, cache: &Path, store: &str, audit: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        vec!["score", "--period", "2026-Q3"],
        vec!["score", "--period", "2025"],
        vec!["score", "--period", "2025", "--as-of", "2025-08-15"],
        vec!["indicators", "--period", "2026-Q3", "--format", "csv"],
        vec!["indicators", "--period", "2025", "--format", "csv"],
    ] {
        let mut c = m.vigil(cache);
        c.args(&args).args(["--store", store]);
        out.push(stdout_of(&mut c));
    }
    out.push(status(m, cache, store));
    let mut c = m.vigil(cache);
    c.args(["sql", "--role", "analyst", "--format", "csv", "-c"])
        .arg(
            "SELECT province_code, count(*) AS units FROM units \
             GROUP BY province_code ORDER BY province_code",
        )
        .args(["--store", store, "--audit-log"])
        .arg(audit);
    out.push(stdout_of(&mut c));
    out
}

#[test]
fn a_store_on_s3_reads_and_ingests_like_a_local_folder() {
    let Some(m) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The local folder is the tests' shared copy of the sample series
    // (ingested in-process); the bucket's is ingested by the binary.
    let local = tmp.path().join("local");
    sample_store_in(&local);
    let local = local.to_str().unwrap();
    let remote = format!("s3://{BUCKET}/sample/store");
    let mut c = m.vigil(&tmp.path().join("ingest-cache"));
    c.arg("ingest")
        .arg(repo().join("sample-data/extracts"))
        .args(["--store", &remote]);
    stdout_of(&mut c);
    let audit = tmp.path().join("audit.jsonl");
    let expected = outputs(&m, &tmp.path().join("unused"), local, &audit);
    assert!(expected[0].lines().count() > 34, "{}", expected[0]);
    // A fresh cache (everything downloaded), then the same cache again
    // (nothing downloaded): byte for byte what the local folder gives.
    for _ in 0..2 {
        let got = outputs(&m, &tmp.path().join("reader-cache"), &remote, &audit);
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, e);
        }
    }
    // A store that is not there is an error, not an empty store.
    let mut c = m.vigil(&tmp.path().join("reader-cache"));
    c.args(["score", "--period", "2025", "--store"])
        .arg(format!("s3://{BUCKET}/nothing-here"));
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a vigil store"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_ingests_racing_for_one_store_cannot_both_commit() {
    let Some(m) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("s3://{BUCKET}/race");
    let dirs = sample_extracts();
    let mut c = m.vigil(&tmp.path().join("seed"));
    c.arg("ingest").arg(&dirs[0]).args(["--store", &url]);
    stdout_of(&mut c);

    // Both pull the same catalog, then each ingests another extract.
    let settings = m.settings();
    let a = Remote::pull_with(&url, &tmp.path().join("a"), true, true, &settings).unwrap();
    let b = Remote::pull_with(&url, &tmp.path().join("b"), true, true, &settings).unwrap();
    ingest(&Store::open(a.cache()).unwrap(), &dirs[1]).unwrap();
    ingest(&Store::open(b.cache()).unwrap(), &dirs[2]).unwrap();
    assert!(a.push().unwrap());
    let err = b.push().unwrap_err().to_string();
    assert!(err.contains("another ingest committed"), "{err}");
    drop((a, b));

    let status = |cache: &str| status(&m, &tmp.path().join(cache), &url);
    let date = |d: &Path| d.file_name().unwrap().to_string_lossy().to_string();
    let seen = status("reader");
    assert!(seen.contains(&date(&dirs[1])), "{seen}");
    assert!(!seen.contains(&date(&dirs[2])), "{seen}");

    // The loser runs again from its cache and commits.
    let mut c = m.vigil(&tmp.path().join("b-again"));
    c.arg("ingest").arg(&dirs[2]).args(["--store", &url]);
    stdout_of(&mut c);
    let seen = status("reader");
    assert!(
        seen.contains(&date(&dirs[1])) && seen.contains(&date(&dirs[2])),
        "{seen}"
    );
}

#[test]
fn an_ingest_killed_before_the_remote_commit_changes_nothing() {
    let Some(m) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("s3://{BUCKET}/crash");
    let dirs = sample_extracts();
    let cache = tmp.path().join("writer");
    let mut c = m.vigil(&cache);
    c.arg("ingest").arg(&dirs[0]).args(["--store", &url]);
    stdout_of(&mut c);
    let status = |cache: &str| status(&m, &tmp.path().join(cache), &url);
    let before = status("reader");

    // Killed after its files are uploaded, before the catalog is put.
    let mut c = m.vigil(&cache);
    c.arg("ingest")
        .arg(&dirs[1])
        .args(["--store", &url])
        .env("VIGIL_FAILPOINT", "before-remote-catalog");
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert_eq!(status("reader"), before);
    assert_eq!(status("fresh-reader"), before);

    // Run again with the same cache (which committed locally): it commits.
    let mut c = m.vigil(&cache);
    c.arg("ingest").arg(&dirs[1]).args(["--store", &url]);
    stdout_of(&mut c);
    let after = status("fresh-reader-2");
    assert_ne!(after, before);
    let name = dirs[1].file_name().unwrap().to_string_lossy().to_string();
    assert!(after.contains(&name), "{after}");
}
