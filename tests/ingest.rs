//! Ingestion against the contract, on real CSV and Parquet files and a real
//! store directory.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use vigil::extract::ingest::Outcome;
use vigil::store::Store;

fn expect_rejected(store: &Store, dir: &std::path::Path, needle: &str) {
    let before = snapshot(store.root());
    let err = ingest(store, dir).expect_err("the extract must be rejected");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("extract rejected") && msg.contains(needle),
        "message {msg:?} should say the extract is rejected and mention {needle:?}"
    );
    assert_eq!(
        snapshot(store.root()),
        before,
        "a rejected extract must change nothing"
    );
}

#[test]
fn dirty_sample_quarantines_every_bad_row_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let dir = repo().join("sample-data/dirty/2026-11-15");
    let Outcome::Ingested {
        tables, warnings, ..
    } = ingest(&store, &dir).unwrap()
    else {
        panic!("expected an ingest");
    };

    let expected: BTreeSet<String> =
        std::fs::read_to_string(repo().join("tests/fixtures/dirty_expected.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
    let got: BTreeSet<String> = query(
        &store,
        None,
        "SELECT file, line, coalesce(column_name, ''), reason_kind, coalesce(primary_key, '') FROM quarantine",
    )
    .into_iter()
    .collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "quarantine differs from the hand-worked list\nmissing: {missing:#?}\nunexpected: {extra:#?}"
    );

    // Nothing else lost: every row not quarantined is stored.
    let accepted: Vec<(String, u64)> = tables
        .iter()
        .map(|(t, r)| (t.clone(), r.accepted))
        .collect();
    assert_eq!(
        accepted,
        [
            ("case_events".to_string(), 3),
            ("cases".to_string(), 3),
            ("inspections".to_string(), 1),
            ("officials".to_string(), 2),
            ("reception_sessions".to_string(), 2),
            ("units".to_string(), 3),
        ]
    );
    for (table, report) in &tables {
        assert_eq!(report.accepted + report.quarantined, report.rows, "{table}");
        let stored = query(&store, None, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(stored, [report.accepted.to_string()], "{table}");
    }
    assert_eq!(
        query(
            &store,
            None,
            "SELECT session_id FROM reception_sessions ORDER BY 1"
        ),
        ["DS-NULLQ", "DS-OK"]
    );
    // A quoted empty field is null, not an empty string.
    assert_eq!(
        query(
            &store,
            None,
            "SELECT count(*) FROM reception_sessions WHERE db_entered_at IS NULL"
        ),
        ["1"]
    );
    // Unknown columns and files are reported, not fatal.
    assert!(
        warnings.iter().any(|w| w.contains("unknown column 'note'")),
        "{warnings:?}"
    );
    // Parquet conversions: the dictionary and large strings were accepted.
    assert_eq!(
        query(
            &store,
            None,
            "SELECT inspection_id, province_code, findings_count FROM inspections"
        ),
        ["DI-OK,01,3"]
    );
}

#[test]
fn reasons_never_echo_sensitive_values() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let header = "case_id,unit_code,received_at,channel,case_type,round,complexity,remote_area,multi_party,requester_name,requester_id_number,content_summary,result_summary,attachments_count";
    let cases = format!(
        "{header}\nC1,U1,2026-01-05 09:00,mail,denunciation,,normal,false,false,Đỗ Văn Kín,012345678901,Tố cáo ông Bùi Văn Lộ,,x\n"
    );
    let dir = write_extract(
        tmp.path(),
        "2026-01-31",
        &[("units.csv", UNITS), ("cases.csv", &cases)],
    );
    ingest(&store, &dir).unwrap();
    let reasons = query(&store, None, "SELECT reason FROM quarantine");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("'x'"), "{reasons:?}");
    for secret in ["Kín", "012345678901", "Bùi Văn Lộ"] {
        assert!(!reasons[0].contains(secret));
    }
}

/// A store holding one good extract (the units), so that "a rejected
/// extract changes nothing" means something.
fn store_with_units() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    ingest(
        &store,
        &write_extract(&tmp.path().join("a"), "2026-01-31", &[("units.csv", UNITS)]),
    )
    .unwrap();
    (tmp, store)
}

#[test]
fn unreadable_or_incomplete_extracts_are_rejected_and_change_nothing() {
    let (tmp, store) = store_with_units();
    let x = tmp.path().join("x");

    let d = write_extract(
        &x.join("1"),
        "2026-02-28",
        &[
            ("units.csv", UNITS),
            ("cases.parquet", "not parquet at all"),
        ],
    );
    expect_rejected(&store, &d, "cases.parquet");

    let d = write_extract(
        &x.join("2"),
        "2026-02-28",
        &[(
            "units.csv",
            "unit_code,unit_name,level,province_code,valid_to\nU3,X,local,01,\n",
        )],
    );
    expect_rejected(&store, &d, "required column 'valid_from' is missing");

    let d = write_extract(
        &x.join("3"),
        "2026-02-28",
        &[(
            "units.csv",
            "unit_code,unit_name,level,province_code,valid_from,valid_to,level\nU3,X,local,01,2026-01-01,,local\n",
        )],
    );
    expect_rejected(&store, &d, "twice");

    let d = write_extract(
        &x.join("4"),
        "2026-02-28",
        &[("units.csv", UNITS), ("units.parquet", "")],
    );
    expect_rejected(&store, &d, "both");

    let d = write_extract(&x.join("5"), "2026-02-28", &[("units.csv", UNITS)]);
    std::fs::write(
        d.join("manifest.json"),
        "{\"extract_date\": \"28/02/2026\"}",
    )
    .unwrap();
    expect_rejected(&store, &d, "extract_date");
    std::fs::remove_file(d.join("manifest.json")).unwrap();
    expect_rejected(&store, &d, "manifest.json");

    // Older than the latest: rejected.
    let d = write_extract(&x.join("6"), "2026-01-15", &[("units.csv", UNITS)]);
    expect_rejected(&store, &d, "older");

    // Same date, different content: rejected.
    let d = write_extract(
        &x.join("7"),
        "2026-01-31",
        &[(
            "units.csv",
            "unit_code,unit_name,level,province_code,valid_from,valid_to\nU9,X,local,01,2016-01-01,\n",
        )],
    );
    expect_rejected(&store, &d, "different content");

    // A Parquet column whose type cannot be converted without loss.
    let schema = Arc::new(Schema::new(vec![
        Field::new("inspection_id", DataType::Utf8, false),
        Field::new("province_code", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("started_on", DataType::Utf8, false),
        Field::new("ended_on", DataType::Utf8, true),
        Field::new("findings_count", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["I1"])),
            Arc::new(StringArray::from(vec!["01"])),
            Arc::new(StringArray::from(vec!["thematic"])),
            Arc::new(StringArray::from(vec!["2026-02-01"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int32Array::from(vec![1])),
        ],
    )
    .unwrap();
    let d = write_extract(&x.join("8"), "2026-02-28", &[]);
    vigil::store::write_parquet(&d.join("inspections.parquet"), schema, &[batch]).unwrap();
    expect_rejected(&store, &d, "started_on");
}

#[test]
fn the_same_extract_twice_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let dir = repo().join("sample-data/dirty/2026-11-15");
    assert!(matches!(
        ingest(&store, &dir).unwrap(),
        Outcome::Ingested { .. }
    ));
    let before = snapshot(store.root());
    assert!(matches!(
        ingest(&store, &dir).unwrap(),
        Outcome::AlreadyIngested { .. }
    ));
    assert_eq!(snapshot(store.root()), before);
}

#[test]
fn a_later_extract_corrects_a_row_and_the_earlier_state_stays_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let jan = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,,,,,0\nC2,U2,2026-01-06 10:00,vssid,reflection,,normal,false,false,,,,,1\n"
    );
    // February corrects C1's complexity, leaves C2 out, adds C3.
    let feb = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,complex,false,false,,,,,0\nC3,U2,2026-02-02 10:00,hotline,recommendation,,normal,false,false,,,,,0\n"
    );
    let root = tmp.path().join("in");
    ingest(
        &store,
        &write_extract(
            &root,
            "2026-01-31",
            &[("units.csv", UNITS), ("cases.csv", &jan)],
        ),
    )
    .unwrap();
    ingest(
        &store,
        &write_extract(&root, "2026-02-28", &[("cases.csv", &feb)]),
    )
    .unwrap();
    let sql =
        "SELECT case_id, complexity, CAST(extract_date AS VARCHAR) FROM cases ORDER BY case_id";
    assert_eq!(
        query(&store, None, sql),
        [
            "C1,complex,2026-02-28",
            "C2,normal,2026-01-31",
            "C3,normal,2026-02-28"
        ]
    );
    // As of mid-February means as of the January extract.
    let jan_state = ["C1,normal,2026-01-31", "C2,normal,2026-01-31"];
    assert_eq!(query(&store, Some("2026-02-15"), sql), jan_state);
    // A later ingest leaves the earlier as-of state as it was.
    let mar = format!(
        "{CASE_HEADER}\nC2,U2,2026-01-06 10:00,vssid,reflection,,complex,false,false,,,,,1\n"
    );
    ingest(
        &store,
        &write_extract(&root, "2026-03-31", &[("cases.csv", &mar)]),
    )
    .unwrap();
    assert_eq!(query(&store, Some("2026-02-15"), sql), jan_state);
    assert_eq!(query(&store, Some("2026-01-31"), sql), jan_state);
    assert_eq!(
        query(&store, None, "SELECT count(*) FROM cases_history"),
        ["5"]
    );
}

#[test]
fn a_quarantined_row_never_replaces_a_stored_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let root = tmp.path().join("in");
    let jan = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    let feb = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,7,complex,false,false,,,,,0\n"
    );
    let feb_events = "event_id,case_id,event_type,occurred_at,db_entered_at\nE1,C1,accepted,2026-02-02 10:00,\nE2,C1,received,2026-01-05 08:59,\n";
    ingest(
        &store,
        &write_extract(
            &root,
            "2026-01-31",
            &[("units.csv", UNITS), ("cases.csv", &jan)],
        ),
    )
    .unwrap();
    ingest(
        &store,
        &write_extract(
            &root,
            "2026-02-28",
            &[("cases.csv", &feb), ("case_events.csv", feb_events)],
        ),
    )
    .unwrap();
    assert_eq!(
        query(&store, None, "SELECT case_id, complexity FROM cases"),
        ["C1,normal"]
    );
    // The events are checked against the stored case (received 09:00).
    assert_eq!(
        query(&store, None, "SELECT event_id FROM case_events"),
        ["E1"]
    );
    assert_eq!(
        query(
            &store,
            None,
            "SELECT primary_key, reason_kind FROM quarantine ORDER BY 1"
        ),
        ["C1,round", "E2,before_start"]
    );
}

#[test]
fn zoned_parquet_timestamps_become_vietnam_local_time() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let root = tmp.path().join("in");
    let cases = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    ingest(
        &store,
        &write_extract(
            &root,
            "2026-01-31",
            &[("units.csv", UNITS), ("cases.csv", &cases)],
        ),
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("case_id", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "db_entered_at",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ]));
    // 2026-02-02 03:00 UTC is 10:00 in Vietnam.
    let utc_ms = 1_770_001_200_000i64;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["E1"])),
            Arc::new(StringArray::from(vec!["C1"])),
            Arc::new(StringArray::from(vec!["accepted"])),
            Arc::new(TimestampMillisecondArray::from(vec![utc_ms]).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(vec![Some(
                utc_ms + 7 * 3_600_000,
            )])),
        ],
    )
    .unwrap();
    let d = write_extract(&root, "2026-02-28", &[]);
    vigil::store::write_parquet(&d.join("case_events.parquet"), schema, &[batch]).unwrap();
    ingest(&store, &d).unwrap();
    assert_eq!(
        query(
            &store,
            None,
            "SELECT CAST(occurred_at AS VARCHAR), CAST(db_entered_at AS VARCHAR) FROM case_events"
        ),
        ["2026-02-02T10:00:00,2026-02-02T10:00:00"]
    );
}

#[test]
fn requester_identity_is_pseudonymized_with_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let cases = format!(
        "{CASE_HEADER}\n\
         C1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,Nguyễn Văn A, 079123456789 ,,,0\n\
         C2,U1,2026-01-06 09:00,mail,complaint,1,normal,false,false,nguyễn  văn a,,,,0\n\
         C3,U1,2026-01-07 09:00,mail,complaint,1,normal,false,false,,079123456789,,,0\n\
         C4,U1,2026-01-08 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    let dir = write_extract(
        tmp.path(),
        "2026-01-31",
        &[("units.csv", UNITS), ("cases.csv", &cases)],
    );
    ingest(&store, &dir).unwrap();
    let k = key();
    let by_id = vigil::extract::pseudonym::requester_ref(&k, None, Some("079123456789")).unwrap();
    let by_name = vigil::extract::pseudonym::requester_ref(&k, Some("Nguyễn Văn A"), None).unwrap();
    assert_eq!(
        query(
            &store,
            None,
            "SELECT case_id, coalesce(requester_ref, 'null') FROM cases ORDER BY 1"
        ),
        [
            format!("C1,{by_id}"),
            format!("C2,{by_name}"),
            format!("C3,{by_id}"),
            "C4,null".to_string()
        ]
    );
}

#[test]
fn extract_files_must_be_regular_files_inside_the_extract_folder() {
    let (tmp, store) = store_with_units();
    // A table file linked to a file outside the folder (a real CSV of
    // the right shape, so that only the link can be why it is refused).
    let outside = tmp.path().join("outside.csv");
    std::fs::write(&outside, UNITS).unwrap();
    let d = write_extract(&tmp.path().join("b"), "2026-02-28", &[]);
    std::os::unix::fs::symlink(&outside, d.join("units.csv")).unwrap();
    expect_rejected(&store, &d, "symbolic link");
    // A link to /etc/passwd, the manifest as a link, a folder under a
    // table's name: all refused the same way.
    let d = write_extract(&tmp.path().join("c"), "2026-02-28", &[]);
    std::os::unix::fs::symlink("/etc/passwd", d.join("cases.csv")).unwrap();
    expect_rejected(&store, &d, "symbolic link");
    let d = tmp.path().join("d").join("2026-02-28");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(&outside, r#"{"extract_date": "2026-02-28"}"#).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("manifest.json")).unwrap();
    expect_rejected(&store, &d, "symbolic link");
    let d = write_extract(&tmp.path().join("e"), "2026-02-28", &[]);
    std::fs::create_dir(d.join("units.csv")).unwrap();
    expect_rejected(&store, &d, "not a regular file");
}

#[tokio::test(flavor = "multi_thread")]
async fn store_alerts_fire_and_clear_as_extracts_land() {
    use vigil::score::alerts::{Alerts, evaluate, record};
    let tmp = tempfile::tempdir().unwrap();
    let store = small_store_with_content(tmp.path());
    let rules = Alerts::parse(
        "[[rule]]\nid = \"silent\"\nkind = \"no_data\"\ndays = 45\n\
         [[rule]]\nid = \"dirty\"\nkind = \"quarantine_share\"\npercent = 20\n",
        "alerts.toml",
    )
    .unwrap();
    let engine = vigil::score::scoring::Engine::bundled(store.clone());
    let d = |s: &str| vigil::reference::dates::parse_date(s).unwrap();
    let keys = |found: &[vigil::score::alerts::Found]| {
        let mut k: Vec<String> = found.iter().map(|f| f.key.clone()).collect();
        k.sort();
        k
    };
    // As of 2026-10-31 Hà Nội's last activity is 2026-07-15 (108 days):
    // every province is silent; the extract was clean.
    let first = evaluate(&engine, &rules, d("2026-10-31")).await.unwrap();
    assert_eq!(first.len(), 34, "{:?}", keys(&first));
    assert!(keys(&first).contains(&"silent/01".to_string()));
    record(store.root(), d("2026-10-31"), first).unwrap();

    // A later extract: a new case for Hà Nội, and three rows out of four
    // quarantined.
    let cases = format!(
        "{CASE_HEADER}\n\
         K2,U1,2026-11-20 09:00,in_person,complaint,1,normal,false,false,Trần Thị Hoa,079200001111,khiếu nại,đã trả lời,1\n\
         K3,U1,not a date,in_person,complaint,1,normal,false,false,A,1,x,y,1\n\
         K4,U1,not a date,in_person,complaint,1,normal,false,false,B,2,x,y,1\n\
         K5,U1,not a date,in_person,complaint,1,normal,false,false,C,3,x,y,1\n"
    );
    ingest(
        &store,
        &write_extract(
            &tmp.path().join("y"),
            "2026-11-30",
            &[("cases.csv", &cases)],
        ),
    )
    .unwrap();
    let second = evaluate(&engine, &rules, d("2026-11-30")).await.unwrap();
    let k = keys(&second);
    assert!(!k.contains(&"silent/01".to_string()), "Hà Nội spoke: {k:?}");
    assert!(k.contains(&"silent/04".to_string()));
    assert!(k.contains(&"dirty/national".to_string()), "{k:?}");
    let events = record(store.root(), d("2026-11-30"), second).unwrap();
    let said: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.event.clone(), e.alert.found.key.clone()))
        .collect();
    assert!(
        said.contains(&("cleared".into(), "silent/01".into())),
        "{said:?}"
    );
    assert!(
        said.contains(&("raised".into(), "dirty/national".into())),
        "{said:?}"
    );

    // A clean extract: the quarantine alert clears.
    ingest(
        &store,
        &write_extract(&tmp.path().join("z"), "2026-12-31", &[("units.csv", UNITS)]),
    )
    .unwrap();
    let third = evaluate(&engine, &rules, d("2026-12-31")).await.unwrap();
    let events = record(store.root(), d("2026-12-31"), third).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "cleared" && e.alert.found.key == "dirty/national"),
        "{:?}",
        events.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
}

/// A run over a folder stops at the first rejected extract, although each
/// next extract is validated while the one before is maintained: the
/// extracts before it land and are committed, the error names its folder,
/// nothing of it or of those after is kept, and a later run picks up from
/// there.
#[test]
fn a_run_stops_at_a_rejected_extract_and_commits_those_before() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let first = write_extract(&tmp.path().join("1"), "2026-01-31", &[("units.csv", UNITS)]);
    let bad = write_extract(
        &tmp.path().join("2"),
        "2026-02-28",
        &[
            ("units.csv", UNITS),
            ("cases.parquet", "not parquet at all"),
        ],
    );
    let third = write_extract(&tmp.path().join("3"), "2026-03-31", &[("units.csv", UNITS)]);
    let reference = vigil::reference::Reference::bundled();

    let mut run = vigil::extract::run::Run::open(&store, &reference).unwrap();
    let mut landed = Vec::new();
    let dirs = [first.clone(), bad.clone(), third.clone()];
    let err = run
        .add_all(&dirs, &key(), |o| landed.push(o))
        .expect_err("the second extract must stop the run");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&bad.display().to_string()) && msg.contains("cases.parquet"),
        "{msg}"
    );
    assert_eq!(landed.len(), 1);
    run.commit().unwrap();
    drop(run);
    let dates = |store: &Store| -> Vec<String> {
        let cat = store.catalog().unwrap();
        cat.extracts
            .iter()
            .map(|e| e.extract_date.to_string())
            .collect()
    };
    assert_eq!(dates(&store), ["2026-01-31"]);
    assert_eq!(
        store.catalog().unwrap().facts.unwrap().through.to_string(),
        "2026-01-31"
    );

    // Mended, the folder is taken up where it stopped.
    std::fs::remove_file(bad.join("cases.parquet")).unwrap();
    let mut run = vigil::extract::run::Run::open(&store, &reference).unwrap();
    let mut outcomes = Vec::new();
    run.add_all(&dirs, &key(), |o| outcomes.push(o)).unwrap();
    run.commit().unwrap();
    drop(run);
    assert!(matches!(outcomes[0], Outcome::AlreadyIngested { .. }));
    assert!(matches!(outcomes[1], Outcome::Ingested { .. }));
    assert!(matches!(outcomes[2], Outcome::Ingested { .. }));
    assert_eq!(dates(&store), ["2026-01-31", "2026-02-28", "2026-03-31"]);
    assert!(
        !store.root().join(".staging").exists()
            || files_in(&store.root().join(".staging")).is_empty()
    );
}

/// `vigil ingest DIR | head -1`: the reader of the report goes away after
/// the first line, and the ingest still lands every extract and exits
/// cleanly (a panic on the closed pipe would lose the group it was in).
#[test]
fn an_ingest_whose_reader_goes_away_still_lands_every_extract() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("in");
    for date in ["2026-01-31", "2026-02-28", "2026-03-31"] {
        write_extract(&folder, date, &[("units.csv", UNITS)]);
    }
    let store = tmp.path().join("store");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("ingest")
        .arg(&folder)
        .arg("--store")
        .arg(&store)
        .env("VIGIL_HMAC_KEY", "integration-test-key-0123456789")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut report = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    report.read_line(&mut first).unwrap();
    assert!(first.starts_with("2026-01-31:"), "{first}");
    drop(report);
    let (status, err) = finished(child);
    assert!(
        status.success() && !err.contains("panicked"),
        "{status}: {err}"
    );
    let cat = Store::open(&store).unwrap().catalog().unwrap();
    assert_eq!(cat.extracts.len(), 3);
    assert_eq!(cat.facts.unwrap().through.to_string(), "2026-03-31");
}

#[test]
fn a_command_whose_reader_goes_away_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let store = small_store_with_content(tmp.path());
    for args in [
        vec!["status"],
        vec!["score", "--period", "2026-Q3", "--format", "csv"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(&args)
            .arg("--store")
            .arg(store.root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command prints its first line.
        drop(child.stdout.take());
        let (status, err) = finished(child);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {status}: {err}"
        );
    }
}

/// How a child ended, and what it wrote on standard error.
fn finished(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut err = String::new();
    let mut stderr = child.stderr.take().unwrap();
    stderr.read_to_string(&mut err).unwrap();
    (child.wait().unwrap(), err)
}
