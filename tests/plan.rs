//! The inspection plan (METHODOLOGY section 9) on a hand-built store whose
//! plan is worked out by hand below, and on the sample data, where the
//! evidence lists are recounted against the indicators.

mod common;

use std::fmt::Write as _;

use vigil::score::plan::{Candidate, Plan, Status};
use vigil::score::scoring::Engine;
use vigil::store::Store;

use common::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Reception sessions of one unit: (month, kind, host, entered).
fn sessions(out: &mut String, unit: &str, rows: &[(&str, &str, &str, bool)]) {
    for (i, (month, kind, host, entered)) in rows.iter().enumerate() {
        let day = 10 + i % 15;
        let date = format!("2026-{month}-{day:02}");
        let entered_at = if *entered {
            format!("{date} 16:00")
        } else {
            String::new()
        };
        writeln!(
            out,
            "S-{unit}-{month}-{i},{unit},{date},{kind},{host},H-{unit},5,1,{entered_at}"
        )
        .unwrap();
    }
}

/// `n` sessions in each month of a quarter's months.
fn each_month<'a>(
    months: &[&'a str],
    kind: &'a str,
    host: &'a str,
    entered: bool,
) -> Vec<(&'a str, &'a str, &'a str, bool)> {
    months.iter().map(|m| (*m, kind, host, entered)).collect()
}

const Q2: [&str; 3] = ["04", "05", "06"];
const Q3: [&str; 3] = ["07", "08", "09"];

/// The hand-built store. Seven provinces have data; every other province
/// was inspected for responsibility on 2026-03-01 (7 whole months before
/// 2026-Q4: recency 0.15 × 7/24 = 0.04375, no composite), so it is excluded.
///
/// Planning 2026-Q4: P = 2026-Q3, P−1 = 2026-Q2. With reception data only,
/// R = 100 × (0.7 r1 + 0.3 r2), E = 100 × (e1 + e2)/2 (sessions entered the
/// same day count for both), D is null unless a case is open, and the
/// composite is the mean of the areas present.
///
/// | code | P | P−1 | d4 | last inspection | risk |
/// |---|---|---|---|---|---|
/// | 01 | R 100, E 100 → 100 | 100 | – | never | 0 + 0 + 0 + 0.15 = 0.15 |
/// | 04 | r1 = r2 = 1/3 → R 33.33, E 100 → 66.67 | 100 | – | 2026-10-20, inside Q (0 months) | 0.149985 + 0.2 + 0 + 0 = 0.349985 → excluded |
/// | 08 | R 0, D 0 (one overdue open settlement), E 100 → 33.33 | 33.33 | 0 | 2025-06-15 (15 months) | 0.300015 + 0 + 0.2 + 0.09375 = 0.593765 |
/// | 11 | R 0, E 0 → 0 | 100 | – | 2025-11-01 (11 months) | 0.45 + 0.2 + 0 + 0.06875 = 0.71875 ≥ 0.70 → override |
/// | 12 | R 100, e = 3/4 → E 75 → 87.5 | none (R only) | – | never | 0.05625 + 0 + 0 + 0.15 = 0.20625 |
/// | 14 | R 100, e = 3/5 → E 60 → 80 | R 70 + 30 × 4/15 = 78, E 100 → 89 | – | never | 0.09 + 0.09 + 0 + 0.15 = 0.33 |
/// | 15 | R 100, e = 1/5 → E 20 → 60 | 60 | – | never | 0.18 + 0 + 0 + 0.15 = 0.33 |
///
/// 14 and 15 tie at 0.33: the lower composite (15) comes first, before
/// the province code would decide.
fn hand_built(root: &std::path::Path) -> Store {
    let codes = ["01", "04", "08", "11", "12", "14", "15"];
    let mut units = String::from("unit_code,unit_name,level,province_code,valid_from,valid_to\n");
    for c in codes {
        writeln!(units, "U{c},BHXH tỉnh {c},province,{c},2016-01-01,").unwrap();
    }
    let mut s = String::from(
        "session_id,unit_code,session_date,kind,host_role,host_ref,citizens_count,cases_raised,db_entered_at\n",
    );
    // 01: the head every month, everything entered, both quarters.
    sessions(&mut s, "U01", &each_month(&Q2, "periodic", "head", true));
    sessions(&mut s, "U01", &each_month(&Q3, "periodic", "head", true));
    // 04: good in Q2; in Q3 the head only in July.
    sessions(&mut s, "U04", &each_month(&Q2, "periodic", "head", true));
    sessions(
        &mut s,
        "U04",
        &[
            ("07", "periodic", "head", true),
            ("08", "periodic", "deputy", true),
            ("09", "periodic", "deputy", true),
        ],
    );
    // 08: officers only, everything entered; one complaint left open.
    sessions(&mut s, "U08", &each_month(&Q2, "periodic", "officer", true));
    sessions(&mut s, "U08", &each_month(&Q3, "periodic", "officer", true));
    // 11: good in Q2; in Q3 officers only and nothing entered.
    sessions(&mut s, "U11", &each_month(&Q2, "periodic", "head", true));
    sessions(
        &mut s,
        "U11",
        &each_month(&Q3, "periodic", "officer", false),
    );
    // 12: nothing in Q2; in Q3 the head monthly plus once more, one not entered.
    sessions(
        &mut s,
        "U12",
        &[
            ("07", "periodic", "head", true),
            ("08", "periodic", "head", true),
            ("08", "irregular", "head", true),
            ("09", "periodic", "head", false),
        ],
    );
    // 15: the head five times a quarter, one of five entered; same in Q2.
    for q in [Q2, Q3] {
        let mut rows = each_month(&q, "periodic", "head", false);
        rows.push((q[1], "irregular", "head", false));
        rows.push((q[2], "irregular", "head", false));
        rows[0].3 = true;
        sessions(&mut s, "U15", &rows);
    }
    // 14: Q3 like 15 but three of five entered; Q2 the head 4 of 15
    // sessions (monthly plus once), all entered.
    let mut rows = each_month(&Q3, "periodic", "head", true);
    rows.push(("08", "irregular", "head", false));
    rows.push(("09", "irregular", "head", false));
    sessions(&mut s, "U14", &rows);
    let mut rows = each_month(&Q2, "periodic", "head", true);
    rows.push(("05", "irregular", "head", true));
    for i in 0..11 {
        rows.push((Q2[i % 3], "irregular", "officer", true));
    }
    sessions(&mut s, "U14", &rows);

    let cases = format!(
        "{CASE_HEADER}\nC08,U08,2026-01-05 09:00,in_person,complaint,1,normal,false,false,Nguyễn Văn Bình,001099000123,nội dung,,1\n"
    );
    let events = "event_id,case_id,event_type,occurred_at,db_entered_at\n\
                  E1,C08,received,2026-01-05 09:00,\n\
                  E2,C08,accepted,2026-01-07 09:00,2026-01-07 10:00\n";
    let mut insp =
        String::from("inspection_id,province_code,kind,started_on,ended_on,findings_count\n");
    for (id, code, start) in [
        ("I04", "04", "2025-11-10"),
        ("I04b", "04", "2026-10-20"),
        ("I08", "08", "2025-06-15"),
        ("I11", "11", "2025-11-01"),
    ] {
        writeln!(insp, "{id},{code},responsibility,{start},,3").unwrap();
    }
    // A thematic inspection does not count for the 12-month rule.
    writeln!(insp, "T01,01,thematic,2026-05-01,,1").unwrap();
    for p in vigil::reference::Reference::bundled().provinces {
        if !codes.contains(&p.code.as_str()) {
            writeln!(
                insp,
                "I{},{},responsibility,2026-03-01,2026-04-01,2",
                p.code, p.code
            )
            .unwrap();
        }
    }
    let store = Store::open(root.join("store")).unwrap();
    let dir = write_extract(
        &root.join("extracts"),
        "2026-10-31",
        &[
            ("units.csv", &units),
            ("reception_sessions.csv", &s),
            ("cases.csv", &cases),
            ("case_events.csv", events),
            ("inspections.csv", &insp),
        ],
    );
    ingest(&store, &dir).unwrap();
    store
}

fn find<'a>(plan: &'a Plan, code: &str) -> &'a Candidate {
    plan.provinces
        .iter()
        .find(|c| c.province_code == code)
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_plan_of_a_hand_built_store_is_the_one_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = hand_built(dir.path());
    let engine = Engine::bundled(store);
    let rt = rt();
    let plan = rt.block_on(engine.plan("2026-Q4", None, None)).unwrap();
    assert_eq!(plan.as_of, "2026-10-31");
    assert_eq!(plan.scored_period, "2026-Q3");
    assert_eq!(
        plan.capacity, 6,
        "the default capacity comes from the rules file"
    );

    let expected = [
        ("01", 100.0, Some(100.0), 0.15),
        ("04", 66.67, Some(100.0), 0.349985),
        ("08", 33.33, Some(33.33), 0.593765),
        ("11", 0.0, Some(100.0), 0.71875),
        ("12", 87.5, None, 0.20625),
        ("14", 80.0, Some(89.0), 0.33),
        ("15", 60.0, Some(60.0), 0.33),
    ];
    for (code, composite, previous, risk) in expected {
        let c = find(&plan, code);
        assert_eq!(c.composite, Some(composite), "{code}");
        assert_eq!(c.previous_composite, previous, "{code}");
        assert!(close(c.risk, risk), "{code}: {} != {risk}", c.risk);
        let sum = c.term_composite + c.term_decline + c.term_backlog + c.term_recency;
        assert!(close(sum, c.risk), "{code}: the terms add up to the risk");
    }
    // The terms of 08 one by one, and its backlog from d4 = 0.
    let c08 = find(&plan, "08");
    assert!(close(c08.term_composite, 0.45 * (1.0 - 0.3333)));
    assert!(close(c08.term_backlog, 0.20));
    assert!(close(c08.term_recency, 0.15 * 15.0 / 24.0));
    assert_eq!(c08.d4, Some(0.0));
    assert!(c08.missing_terms.is_empty());
    // Missing terms are named: no previous score for 12, no backlog at all.
    assert_eq!(find(&plan, "12").missing_terms, ["decline", "backlog"]);
    assert!(
        find(&plan, "12")
            .reasons_en
            .iter()
            .any(|r| r.contains("No data for the decline term"))
    );
    assert!(
        find(&plan, "12")
            .reasons_vi
            .iter()
            .any(|r| r.contains("Thiếu dữ liệu"))
    );
    // Never inspected: the full recency term, said in words.
    assert!(close(find(&plan, "01").term_recency, 0.15));
    assert!(
        find(&plan, "01")
            .reasons_en
            .iter()
            .any(|r| r.contains("Never inspected"))
    );
    assert_eq!(
        find(&plan, "01").last_inspection,
        None,
        "a thematic inspection does not count"
    );

    // The 12-month rule and its override.
    let c04 = find(&plan, "04");
    assert_eq!(c04.status, Status::Excluded);
    assert_eq!(
        c04.last_inspection.as_deref(),
        Some("2026-10-20"),
        "an inspection begun inside the quarter, before the as-of, counts"
    );
    assert_eq!(c04.months_since_inspection, Some(0));
    assert!(!c04.override_applied);
    let c11 = find(&plan, "11");
    assert!(c11.recently_inspected && c11.override_applied);
    assert_ne!(c11.status, Status::Excluded);
    assert_eq!(
        plan.with_status(Status::Excluded).count(),
        28,
        "04 and the 27 provinces inspected in March"
    );

    // Capacity 6 = the eligible set: all six, highest risk first, the tie
    // at 0.33 broken by the lower composite.
    let order: Vec<&str> = plan.chosen().map(|c| c.province_code.as_str()).collect();
    assert_eq!(order, ["11", "08", "15", "14", "12", "01"]);
    assert_eq!(plan.with_status(Status::MissedCut).count(), 0);

    // Capacity 3: the next three just miss the cut, with the reason.
    let plan3 = rt.block_on(engine.plan("2026-Q4", Some(3), None)).unwrap();
    let order: Vec<&str> = plan3.chosen().map(|c| c.province_code.as_str()).collect();
    assert_eq!(order, ["11", "08", "15"]);
    let missed: Vec<&str> = plan3
        .with_status(Status::MissedCut)
        .map(|c| c.province_code.as_str())
        .collect();
    assert_eq!(missed, ["14", "12", "01"]);
    assert!(
        find(&plan3, "14")
            .reasons_en
            .iter()
            .any(|r| r.contains("below the last province chosen (0.330)"))
    );

    // Capacity larger than the eligible set: every eligible province, no more.
    let plan10 = rt.block_on(engine.plan("2026-Q4", Some(10), None)).unwrap();
    assert_eq!(plan10.chosen().count(), 6);
    assert_eq!(plan10.with_status(Status::Excluded).count(), 28);

    // Reproducible: the same store and as-of give the same plan.
    let again = rt.block_on(engine.plan("2026-Q4", None, None)).unwrap();
    assert_eq!(
        serde_json::to_string(&plan).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    // Not a quarter, or a quarter whose scored quarter is after the as-of.
    assert!(rt.block_on(engine.plan("2026-11", None, None)).is_err());
    let e = rt.block_on(engine.plan("2027-Q2", None, None)).unwrap_err();
    assert!(format!("{e:#}").contains("after the as-of"), "{e:#}");
}

#[test]
fn evidence_of_the_hand_built_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::bundled(hand_built(dir.path()));
    let rt = rt();
    let ev = rt.block_on(engine.evidence("2026-Q4", "08", None)).unwrap();
    let overdue = ev.list("overdue_cases").unwrap();
    assert_eq!(overdue.rows.len(), 1);
    let row = &overdue.rows[0];
    assert_eq!(overdue.get(row, "case_id").plain(), "C08");
    assert_eq!(overdue.get(row, "stage").plain(), "settlement");
    assert_eq!(overdue.get(row, "last_event").plain(), "accepted");
    // Every month of Q3 lacks a head session at 08; 11 too; not 01.
    assert_eq!(ev.list("head_reception_gaps").unwrap().rows.len(), 3);
    let ev11 = rt.block_on(engine.evidence("2026-Q4", "11", None)).unwrap();
    let gaps = ev11.list("entry_gaps").unwrap();
    assert_eq!(gaps.rows.len(), 3);
    assert!(
        gaps.rows
            .iter()
            .all(|r| gaps.get(r, "status").plain() == "not_entered")
    );
    let ev01 = rt.block_on(engine.evidence("2026-Q4", "01", None)).unwrap();
    assert!(ev01.lists.iter().all(|(_, t)| t.rows.is_empty()));
    assert_eq!(
        ev01.inspections.rows.len(),
        1,
        "the thematic inspection is in the history"
    );
    // The raw requester identity is nowhere in the pack.
    let json = serde_json::to_string(&ev).unwrap();
    assert!(!json.contains("Nguyễn Văn Bình") && !json.contains("001099000123"));
    assert!(rt.block_on(engine.evidence("2026-Q4", "99", None)).is_err());
}

/// The sample store: the plan picks provinces the generator made behave
/// badly, and every evidence list recounts its indicator.
#[test]
fn sample_plan_and_evidence_match_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample_store_in(&dir.path().join("store"));
    let engine = Engine::bundled(store);
    let rt = rt();
    let plan = rt.block_on(engine.plan("2026-Q4", None, None)).unwrap();
    let profiles: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample-data/extracts/profiles.json")).unwrap(),
    )
    .unwrap();
    let profile = |code: &str| {
        profiles
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == code)
            .map(|p| p["behaviour"]["profile"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(plan.chosen().count(), 6);
    for c in plan.chosen() {
        assert_ne!(
            profile(&c.province_code),
            "exemplary",
            "{}",
            c.province_code
        );
    }
    // Every province made to behave worst is either in the plan or kept
    // out by a responsibility inspection less than 12 months before.
    for c in &plan.provinces {
        if profile(&c.province_code) == "worst" {
            assert!(
                c.status == Status::Chosen
                    || (c.status == Status::Excluded && c.recently_inspected),
                "{} {:?}",
                c.province_code,
                c.status
            );
        }
    }
    let p = rt.block_on(engine.score("2026-Q3", None)).unwrap();
    let ind = |code: &str, id: &str| {
        let v = p
            .indicators
            .iter()
            .find(|v| v.province_code == code && v.indicator == id)
            .unwrap();
        (v.numerator, v.denominator)
    };
    for c in plan.chosen() {
        let code = c.province_code.as_str();
        let ev = rt.block_on(engine.evidence("2026-Q4", code, None)).unwrap();
        let count = |list: &str,
                     f: &dyn Fn(
            &vigil::present::table::Table,
            &Vec<vigil::present::table::Cell>,
        ) -> bool| {
            let t = ev.list(list).unwrap();
            t.rows.iter().filter(|r| f(t, r)).count() as i64
        };
        let (n, d) = ind(code, "d4_backlog_health");
        assert_eq!(
            count("overdue_cases", &|t, r| t.get(r, "stage").plain()
                == "settlement"),
            d - n,
            "{code}: overdue settlements = d4 denominator − numerator"
        );
        let (n, d) = ind(code, "r1_head_reception");
        assert_eq!(
            count("head_reception_gaps", &|_, _| true),
            d - n,
            "{code}: r1"
        );
        let (n, d) = ind(code, "e5_account_hygiene");
        assert_eq!(count("stale_accounts", &|_, _| true), d - n, "{code}: e5");
        let (n, d) = ind(code, "e1_entry_coverage");
        assert_eq!(
            count("entry_gaps", &|t, r| t.get(r, "status").plain()
                == "not_entered"),
            d - n,
            "{code}: e1"
        );
        let (n, d) = ind(code, "e2_entry_timeliness");
        assert_eq!(count("entry_gaps", &|_, _| true), d - n, "{code}: e2");
        let (n, _) = ind(code, "x1_repeat_requests");
        let t = ev.list("repeat_requesters").unwrap();
        let repeats: i64 = t
            .rows
            .iter()
            .map(|r| t.get(r, "repeat_cases").as_f64().unwrap() as i64)
            .sum();
        assert_eq!(repeats, n, "{code}: x1");
        assert!(
            t.rows
                .iter()
                .all(|r| t.get(r, "requester_ref").plain().len() == 64),
            "requesters only by their 64-hex pseudonym"
        );
    }
}
