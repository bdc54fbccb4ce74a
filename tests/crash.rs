//! The real binary killed during ingest: the store must stay as it was
//! before or as it is after, and a re-run must complete.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use vigil::store::Store;

fn vigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.env("VIGIL_HMAC_KEY", std::str::from_utf8(TEST_KEY).unwrap())
        .env_remove("VIGIL_FAILPOINT")
        .env_remove("VIGIL_STORE");
    c
}

fn ingest_cli(store: &Path, extract: &Path, failpoint: Option<&str>) -> std::process::Output {
    let mut c = vigil();
    c.arg("ingest").arg(extract).arg("--store").arg(store);
    if let Some(f) = failpoint {
        c.env("VIGIL_FAILPOINT", f);
    }
    c.output().unwrap()
}

/// What a reader sees: every table's rows, as text.
fn visible_state(store: &Path) -> Vec<String> {
    let store = Store::open(store).unwrap();
    let mut out = query(&store, None, "SELECT count(*) FROM extracts");
    for t in vigil::reference::contract::Table::ALL {
        out.extend(query(
            &store,
            None,
            &format!("SELECT * FROM {} ORDER BY 1", t.name()),
        ));
    }
    out.extend(query(
        &store,
        None,
        "SELECT * FROM quarantine ORDER BY file, line",
    ));
    out.extend(facts_state(&store));
    out
}

/// What scoring sees: the facts (versions with their validity), through
/// the same context the scores are computed in.
fn facts_state(store: &Store) -> Vec<String> {
    let engine = vigil::score::scoring::Engine::bundled(store.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (ctx, _) = engine.context(None).await.unwrap();
        let mut out = Vec::new();
        for f in vigil::facts::FACTS {
            let batches = ctx
                .sql(&format!(
                    "SELECT * EXCEPT (vigil_hash) FROM {}_versions",
                    f.name
                ))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort();
            out.push(format!("{}: {}", f.name, lines.join("\n")));
        }
        out
    })
}

fn two_extracts(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let jan = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,Lê A,001,,,0\n"
    );
    let feb = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,complex,false,false,Lê A,001,,,0\nC2,U2,2026-02-03 09:00,vssid,reflection,,normal,false,false,,,,,0\nC3,U2,2026-02-30 09:00,vssid,reflection,,normal,false,false,,,,,0\n"
    );
    (
        write_extract(
            root,
            "2026-01-31",
            &[("units.csv", UNITS), ("cases.csv", &jan)],
        ),
        write_extract(root, "2026-02-28", &[("cases.csv", &feb)]),
    )
}

/// The failpoints of an ingest's commit, in the order an ingest reaches
/// them; only the last is after the catalog names the new extracts.
const COMMIT_POINTS: [&str; 5] = [
    "before-rename",
    "after-rename",
    "facts-written",
    "before-catalog",
    "after-catalog",
];

#[test]
fn killed_at_every_commit_step_the_store_is_before_or_after() {
    let tmp = tempfile::tempdir().unwrap();
    let (jan, feb) = two_extracts(&tmp.path().join("in"));

    // The reference: both extracts ingested without interruption.
    let clean = tmp.path().join("clean");
    assert!(ingest_cli(&clean, &jan, None).status.success());
    let before = visible_state(&clean);
    assert!(ingest_cli(&clean, &feb, None).status.success());
    let after = visible_state(&clean);
    assert_ne!(before, after);

    for point in COMMIT_POINTS {
        let store = tmp.path().join(point);
        assert!(ingest_cli(&store, &jan, None).status.success());
        let out = ingest_cli(&store, &feb, Some(point));
        assert!(
            !out.status.success(),
            "{point}: the process should have aborted"
        );
        let seen = visible_state(&store);
        let expected = if point == "after-catalog" {
            &after
        } else {
            &before
        };
        assert_eq!(
            &seen, expected,
            "{point}: store must be as before or as after"
        );
        // Status reads the store fine, and a re-run completes.
        let status = vigil()
            .arg("status")
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let rerun = ingest_cli(&store, &feb, None);
        assert!(
            rerun.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(
            visible_state(&store),
            after,
            "{point}: re-run must reach the after state"
        );
        assert!(!store.join(".staging").exists());
    }
}

/// Extracts ingested in one run are committed as one group: killed at any
/// step before the catalog names them, the store holds none of them; after
/// it, all. A re-run reaches the same state as an uninterrupted run.
#[test]
fn a_group_killed_at_every_commit_step_is_committed_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let (jan, feb) = two_extracts(&tmp.path().join("in"));
    let folder = jan.parent().unwrap();
    assert_eq!(feb.parent().unwrap(), folder);
    let clean = tmp.path().join("clean");
    assert!(ingest_cli(&clean, folder, None).status.success());
    let after = visible_state(&clean);
    let extracts = |p: &Path| Store::open(p).unwrap().catalog().unwrap().extracts.len();
    assert_eq!(extracts(&clean), 2);
    for point in COMMIT_POINTS {
        let store = tmp.path().join(format!("group-{point}"));
        let out = ingest_cli(&store, folder, Some(point));
        assert!(!out.status.success(), "{point}: should have aborted");
        let expected = if point == "after-catalog" { 2 } else { 0 };
        assert_eq!(extracts(&store), expected, "{point}");
        let rerun = ingest_cli(&store, folder, None);
        assert!(
            rerun.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(visible_state(&store), after, "{point}");
        assert!(!store.join(".staging").exists());
    }
}

#[test]
fn killed_at_random_moments_of_a_long_ingest_the_store_stays_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let generated = vigil()
        .args([
            "generate", "--scale", "0.05", "--seed", "3", "--from", "2025-05", "--to", "2025-09",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let clean = tmp.path().join("clean");
    assert!(ingest_cli(&clean, &data, None).status.success());
    let final_state = visible_state(&clean);
    let catalog_len = |p: &Path| Store::open(p).unwrap().catalog().unwrap().extracts.len();
    let total = catalog_len(&clean);

    let store = tmp.path().join("killed");
    for delay_ms in [30u64, 120, 250, 400, 700] {
        let mut child = vigil()
            .arg("ingest")
            .arg(&data)
            .arg("--store")
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever point it died at, the store reads cleanly and holds a
        // whole number of extracts; the next run skips those already in.
        if store.join("catalog.json").exists() {
            let n = catalog_len(&store);
            assert!(n <= total);
            let status = vigil()
                .arg("status")
                .arg("--store")
                .arg(&store)
                .output()
                .unwrap();
            assert!(
                status.status.success(),
                "{}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
    }
    let rerun = ingest_cli(&store, &data, None);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(catalog_len(&store), total);
    // Same content as an uninterrupted ingest (ingestion times aside).
    assert_eq!(visible_state(&store), final_state);
}

/// A store at `root/store` with both extracts ingested.
fn both_ingested(root: &Path) -> std::path::PathBuf {
    let (jan, feb) = two_extracts(&root.join("in"));
    let store = root.join("store");
    assert!(ingest_cli(&store, &jan, None).status.success());
    assert!(ingest_cli(&store, &feb, None).status.success());
    store
}

fn facts_folders(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("facts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A rebuild killed before its commit leaves the facts as they were; a
/// rebuild that completes gives the same versions, and only its folder
/// remains.
#[test]
fn killed_during_a_rebuild_the_facts_stay_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let store = both_ingested(tmp.path());
    let state = visible_state(&store);
    let folders = facts_folders(&store);
    assert_eq!(folders.len(), 1, "{folders:?}");

    for point in ["facts-written", "before-catalog"] {
        let out = vigil()
            .arg("rebuild")
            .arg("--store")
            .arg(&store)
            .env("VIGIL_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: should have aborted");
        assert_eq!(visible_state(&store), state, "{point}");
    }
    let out = vigil()
        .arg("rebuild")
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("facts rebuilt from 2 extracts"));
    assert_eq!(visible_state(&store), state);
    let after = facts_folders(&store);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, folders);
}

/// A store written before facts existed (no facts in its catalog) is
/// upgraded on first use, with a message, and scores as before.
#[test]
fn a_store_without_facts_is_upgraded_on_first_use() {
    let tmp = tempfile::tempdir().unwrap();
    let store = both_ingested(tmp.path());
    let score = || {
        vigil()
            .args([
                "indicators",
                "--period",
                "2026-02",
                "--format",
                "csv",
                "--store",
            ])
            .arg(&store)
            .output()
            .unwrap()
    };
    let before = score();
    assert!(before.status.success());
    assert!(before.stdout.len() > 100);
    // What an earlier version wrote: a catalog without facts, no facts folder.
    let path = store.join("catalog.json");
    let mut cat: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cat.as_object_mut().unwrap().remove("facts").unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&cat).unwrap()).unwrap();
    std::fs::remove_dir_all(store.join("facts")).unwrap();

    let upgraded = score();
    assert!(
        upgraded.status.success(),
        "{}",
        String::from_utf8_lossy(&upgraded.stderr)
    );
    assert!(
        String::from_utf8_lossy(&upgraded.stderr).contains("rebuilding the facts"),
        "{}",
        String::from_utf8_lossy(&upgraded.stderr)
    );
    assert_eq!(upgraded.stdout, before.stdout);
    // Once upgraded, nothing is rebuilt again.
    let again = score();
    assert!(!String::from_utf8_lossy(&again.stderr).contains("rebuilding"));
    assert_eq!(again.stdout, before.stdout);
}

#[test]
fn ingest_without_a_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (jan, _) = two_extracts(&tmp.path().join("in"));
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .env_remove("VIGIL_HMAC_KEY")
        .arg("ingest")
        .arg(&jan)
        .arg("--store")
        .arg(tmp.path().join("s"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VIGIL_HMAC_KEY"));
}
