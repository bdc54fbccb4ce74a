//! Hand-worked examples for every deadline rule and indicator, on real
//! stores built from CSV extracts, with a small explicit calendar so every
//! expected date can be checked on paper.

mod common;

use std::path::Path;

use common::*;
use vigil::reference::Reference;
use vigil::reference::calendar::Calendar;
use vigil::reference::rules::Rules;
use vigil::score::scoring::{Engine, Period};
use vigil::store::Store;

/// Tết 2026 on Mon 16 – Fri 20 February, a compensatory working Saturday
/// on 28 February, Hùng Kings' day observed Monday 27 April, 30 April and
/// 1 May.
const CALENDAR: &str = "date,kind,name
2026-02-16,holiday,Tết
2026-02-17,holiday,Tết
2026-02-18,holiday,Tết
2026-02-19,holiday,Tết
2026-02-20,holiday,Tết
2026-02-28,working_day,Làm bù
2026-04-27,holiday,Giỗ Tổ Hùng Vương (nghỉ bù)
2026-04-30,holiday,Ngày Chiến thắng
2026-05-01,holiday,Quốc tế Lao động
";

fn engine(store: &Store) -> Engine {
    let rules = Rules::bundled();
    let cal = Calendar::from_csv_str(CALENDAR)
        .unwrap()
        .with_hours(rules.working_hours());
    Engine::new(store.clone(), rules, cal, Reference::bundled())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Rows of a SQL query over the scoring context as of a date.
fn sql(store: &Store, as_of: &str, q: &str) -> Vec<String> {
    let e = engine(store);
    rt().block_on(async {
        let (ctx, _) = e.context(Some(as_of.parse().unwrap())).await.unwrap();
        let batches = ctx.sql(q).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
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

/// `indicator: numerator/denominator` for one province.
fn counts(store: &Store, period: &str, as_of: &str, province: &str) -> Vec<String> {
    let e = engine(store);
    let s = rt()
        .block_on(e.score(period, Some(as_of.parse().unwrap())))
        .unwrap();
    s.indicators
        .iter()
        .filter(|v| v.province_code == province)
        .map(|v| format!("{}: {}/{}", v.indicator, v.numerator, v.denominator))
        .collect()
}

fn count_of(all: &[String], indicator: &str) -> String {
    all.iter()
        .find(|l| l.starts_with(&format!("{indicator}:")))
        .unwrap()
        .split(": ")
        .nth(1)
        .unwrap()
        .to_string()
}

const EVENTS: &str = "event_id,case_id,event_type,occurred_at,db_entered_at";

fn store_with(root: &Path, extracts: &[(&str, &[(&str, &str)])]) -> Store {
    let store = Store::open(root.join("store")).unwrap();
    for (date, files) in extracts {
        ingest(&store, &write_extract(&root.join("in"), date, files)).unwrap();
    }
    store
}

#[test]
fn day_stage_deadlines_follow_the_calendar() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = format!(
        "{CASE_HEADER}
A1,U1,2026-02-12 10:00,in_person,complaint,1,normal,false,false,,,,,0
A2,U1,2026-04-24 09:00,mail,denunciation,,normal,false,false,,,,,0
A3,U1,2026-03-07 09:00,online_portal,recommendation,,normal,false,false,,,,,0
A4,U1,2026-03-02 09:00,mail,complaint,1,normal,false,false,,,,,0
S1,U1,2026-03-20 09:00,mail,complaint,1,normal,false,false,,,,,0
S2,U1,2026-01-02 09:00,mail,complaint,2,especially_complex,true,false,,,,,0
S3,U1,2026-01-02 09:00,mail,complaint,2,complex,false,false,,,,,0
S4,U1,2026-01-02 09:00,mail,complaint,2,normal,true,false,,,,,0
S5,U1,2026-01-02 09:00,mail,complaint,1,complex,true,false,,,,,0
"
    );
    let events = format!(
        "{EVENTS}
A1a,A1,accepted,2026-03-05 09:00,
A2a,A2,accepted,2026-05-08 16:00,
A3r,A3,responded,2026-03-23 09:00,
S1a,S1,accepted,2026-03-31 10:00,
S1s,S1,settled,2026-05-04 10:00,
S2a,S2,accepted,2026-01-05 10:00,
S2s,S2,settled,2026-03-17 10:00,
S3a,S3,accepted,2026-01-05 10:00,
S3x,S3,reopened,2026-01-06 10:00,
S3s,S3,settled,2026-03-06 10:00,
S4a,S4,accepted,2026-01-05 10:00,
S4w,S4,withdrawn,2026-01-09 10:00,
S5a,S5,accepted,2026-01-05 10:00,
"
    );
    let store = store_with(
        tmp.path(),
        &[(
            "2026-05-31",
            &[
                ("units.csv", UNITS),
                ("cases.csv", &cases),
                ("case_events.csv", &events),
            ],
        )],
    );
    let rows = sql(
        &store,
        "2026-05-31",
        "SELECT case_id, stage, CAST(start_date AS VARCHAR), CAST(deadline AS VARCHAR), \
         coalesce(CAST(completed_date AS VARCHAR), 'open'), on_time FROM stages ORDER BY case_id, stage",
    );
    assert_eq!(
        rows,
        [
            // Ten working days after Thu 12 Feb, skipping Tết and counting
            // the working Saturday 28 Feb: Wed 4 March. Accepted on the 5th.
            "A1,acceptance,2026-02-12,2026-03-04,2026-03-05,false",
            // Accepted late but accepted: settlement from 5 March, 30 days
            // to Sat 4 April, moved to Mon 6 April.
            "A1,settlement,2026-03-05,2026-04-06,open,false",
            // Seven working days after Fri 24 April skip Mon 27 April,
            // 30 April and 1 May: Fri 8 May.
            "A2,acceptance,2026-04-24,2026-05-08,2026-05-08,true",
            // A normal denunciation: 30 days to Sun 7 June, so Mon 8 June.
            "A2,settlement,2026-05-08,2026-06-08,open,false",
            // Received on a Saturday: counting starts Monday; due Fri 20 March.
            "A3,response,2026-03-07,2026-03-20,2026-03-23,false",
            // Never accepted: late once the deadline passes, no settlement stage.
            "A4,acceptance,2026-03-02,2026-03-16,open,false",
            "S1,acceptance,2026-03-20,2026-04-03,2026-03-31,true",
            // 31 March + 30 days = Thu 30 April, a holiday; 1 May too; then
            // the weekend: Mon 4 May.
            "S1,settlement,2026-03-31,2026-05-04,2026-05-04,true",
            "S2,acceptance,2026-01-02,2026-01-16,2026-01-05,true",
            // Round 2, remote and especially complex: 70 days, Mon 16 March.
            "S2,settlement,2026-01-05,2026-03-16,2026-03-17,false",
            "S3,acceptance,2026-01-02,2026-01-16,2026-01-05,true",
            // Round 2, complex: 60 days, Fri 6 March; reopened is ignored.
            "S3,settlement,2026-01-05,2026-03-06,2026-03-06,true",
            "S4,acceptance,2026-01-02,2026-01-16,2026-01-05,true",
            // Round 2, remote: 60 days; withdrawn completes the stage.
            "S4,settlement,2026-01-05,2026-03-06,2026-01-09,true",
            "S5,acceptance,2026-01-02,2026-01-16,2026-01-05,true",
            // Round 1, remote and complex: 60 days; still open.
            "S5,settlement,2026-01-05,2026-03-06,open,false",
        ]
    );
}

#[test]
fn denunciation_extensions_by_complexity() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = format!("{CASE_HEADER}\n");
    let mut events = format!("{EVENTS}\n");
    for cx in ["normal", "complex", "especially_complex"] {
        for k in 0..=3 {
            let id = format!("{cx}-{k}");
            cases.push_str(&format!(
                "{id},U1,2026-01-02 09:00,mail,denunciation,,{cx},false,false,,,,,0\n"
            ));
            events.push_str(&format!("{id}-a,{id},accepted,2026-01-05 09:00,\n"));
            for e in 0..k {
                events.push_str(&format!("{id}-x{e},{id},extended,2026-01-2{e} 09:00,\n"));
            }
        }
    }
    // An extension filed after the settlement does not count.
    cases.push_str("late-ext,U1,2026-01-02 09:00,mail,denunciation,,complex,false,false,,,,,0\n");
    events.push_str("late-a,late-ext,accepted,2026-01-05 09:00,\nlate-s,late-ext,settled,2026-02-10 09:00,\nlate-x,late-ext,extended,2026-02-11 09:00,\n");
    let store = store_with(
        tmp.path(),
        &[(
            "2026-04-30",
            &[
                ("units.csv", UNITS),
                ("cases.csv", &cases),
                ("case_events.csv", &events),
            ],
        )],
    );
    let rows = sql(
        &store,
        "2026-04-30",
        "SELECT case_id, extensions_counted, CAST(deadline AS VARCHAR), on_time FROM stages \
         WHERE stage = 'settlement' ORDER BY case_id",
    );
    // 5 January + 30 = Wed 4 February; + 60 = Fri 6 March; + 90 = Sun 5
    // April, moved to Mon 6 April.
    assert_eq!(
        rows,
        [
            "complex-0,0,2026-02-04,false",
            "complex-1,1,2026-03-06,false",
            "complex-2,1,2026-03-06,false",
            "complex-3,1,2026-03-06,false",
            "especially_complex-0,0,2026-02-04,false",
            "especially_complex-1,1,2026-03-06,false",
            "especially_complex-2,2,2026-04-06,false",
            "especially_complex-3,2,2026-04-06,false",
            "late-ext,0,2026-02-04,false",
            "normal-0,0,2026-02-04,false",
            "normal-1,0,2026-02-04,false",
            "normal-2,0,2026-02-04,false",
            "normal-3,0,2026-02-04,false",
        ]
    );
    // d2 for 2026-Q1: all thirteen stages fall due in Q1 except the two
    // due 6 April; none on time (open, or settled late).
    let c = counts(&store, "2026-Q1", "2026-04-30", "01");
    assert_eq!(count_of(&c, "d2_settlement_on_time"), "0/11");
    // d4 at 31 March: 12 open stages (late-ext was settled), of which the
    // two due 6 April are not overdue.
    assert_eq!(count_of(&c, "d4_backlog_health"), "2/12");
}

#[test]
fn vssid_requests_get_one_working_hour() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = format!(
        "{CASE_HEADER}
V1,U1,2026-03-12 16:45,vssid,reflection,,normal,false,false,,,,,0
V2,U1,2026-03-15 10:00,vssid,reflection,,normal,false,false,,,,,0
V3,U1,2026-02-13 16:30,vssid,recommendation,,normal,false,false,,,,,0
V4,U1,2026-03-12 11:00,vssid,complaint,1,normal,false,false,,,,,0
V5,U1,2026-02-27 16:30,vssid,reflection,,normal,false,false,,,,,0
V6,U1,2026-03-31 16:30,vssid,reflection,,normal,false,false,,,,,0
"
    );
    let events = format!(
        "{EVENTS}
V1r,V1,responded,2026-03-13 08:40,
V2r,V2,responded,2026-03-16 09:30,
V3r,V3,responded,2026-02-23 08:30,
V4r,V4,responded,2026-03-12 12:30,
V5r,V5,settled,2026-02-28 08:29,
"
    );
    let store = store_with(
        tmp.path(),
        &[(
            "2026-04-30",
            &[
                ("units.csv", UNITS),
                ("cases.csv", &cases),
                ("case_events.csv", &events),
            ],
        )],
    );
    let rows = sql(
        &store,
        "2026-04-30",
        "SELECT case_id, CAST(deadline_at AS VARCHAR), on_time FROM stages \
         WHERE stage = 'vssid_response' ORDER BY case_id",
    );
    assert_eq!(
        rows,
        [
            // 16:45 Thursday: 15 minutes that day, 45 the next morning.
            "V1,2026-03-13T08:45:00,true",
            // Sunday: the hour runs from 08:00 Monday.
            "V2,2026-03-16T09:00:00,false",
            // Friday 16:30 before Tết: next working day is Monday 23 February.
            "V3,2026-02-23T08:30:00,true",
            // The hour ran out at 12:00; an answer at 12:30 is late.
            "V4,2026-03-12T12:00:00,false",
            // The compensatory working Saturday has working hours.
            "V5,2026-02-28T08:30:00,true",
            // 31 March 16:30: due 1 April 08:30, counted in Q2; never answered.
            "V6,2026-04-01T08:30:00,false",
        ]
    );
    let q1 = counts(&store, "2026-Q1", "2026-04-30", "01");
    assert_eq!(count_of(&q1, "d3_vssid_response"), "3/5");
    let q2 = counts(&store, "2026-Q2", "2026-04-30", "01");
    assert_eq!(count_of(&q2, "d3_vssid_response"), "0/1");
}

#[test]
fn head_reception_unit_months_are_split_by_the_merger() {
    let tmp = tempfile::tempdir().unwrap();
    let units = "unit_code,unit_name,level,province_code,valid_from,valid_to
OLD,BHXH Hà Giang,province,02,2016-01-01,2025-06-30
NEW,BHXH Tuyên Quang,province,08,2025-07-01,
MID,BHXH cơ sở mới,local,08,2025-07-15,
HQ,BHXH Việt Nam,central,,2016-01-01,
";
    let sessions = "session_id,unit_code,session_date,kind,host_role,host_ref,citizens_count,cases_raised,db_entered_at
s1,OLD,2025-04-10,periodic,head,H1,3,1,2025-04-10 15:00
s2,OLD,2025-06-10,periodic,deputy,H2,3,1,2025-06-12 15:00
s3,NEW,2025-07-10,periodic,head,H3,3,1,2025-07-13 09:00
s4,NEW,2025-09-10,periodic,head,H3,3,1,
s5,MID,2025-08-11,periodic,deputy,H4,3,1,2025-08-11 10:00
s6,MID,2025-09-11,irregular,head,H5,3,1,2025-09-12 10:00
s7,MID,2025-07-20,periodic,head,H5,3,1,2025-07-20 10:00
s8,HQ,2025-07-20,periodic,head,H0,3,1,2025-07-20 10:00
";
    let store = store_with(
        tmp.path(),
        &[(
            "2025-09-30",
            &[("units.csv", units), ("reception_sessions.csv", sessions)],
        )],
    );
    // Q3: NEW Jul–Sep (3), MID Aug–Sep (2, July not whole), OLD none.
    // With a head periodic session: NEW Jul, NEW Sep; MID's July session is
    // in a month it does not count; its September head session is irregular.
    let q3 = counts(&store, "2025-Q3", "2025-09-30", "08");
    assert_eq!(count_of(&q3, "r1_head_reception"), "2/5");
    // r2: sessions in Q3 at units of 08: s3, s4, s5, s6, s7; head: s3, s4, s6, s7.
    assert_eq!(count_of(&q3, "r2_head_share"), "4/5");
    // Q2: OLD Apr–Jun, head in April only.
    let q2 = counts(&store, "2025-Q2", "2025-09-30", "08");
    assert_eq!(count_of(&q2, "r1_head_reception"), "1/3");
    // The year so far: OLD Jan–Jun (6) + NEW 3 + MID 2; heads: Apr, Jul, Sep.
    let y = counts(&store, "2025", "2025-09-30", "08");
    assert_eq!(count_of(&y, "r1_head_reception"), "3/11");
    // e1/e2 over Q3 sessions: entered s3, s5, s6, s7 (s4 not);
    // s3 entered Sun 13 July after Thu 10: 1 working day (Fri 11), on time.
    assert_eq!(count_of(&q3, "e1_entry_coverage"), "4/5");
    assert_eq!(count_of(&q3, "e2_entry_timeliness"), "4/5");
    // The central unit counts nowhere.
    let total: i64 = engine_indicator_total(&store, "2025-Q3", "2025-09-30", "r2_head_share");
    assert_eq!(total, 5);
}

fn engine_indicator_total(store: &Store, period: &str, as_of: &str, indicator: &str) -> i64 {
    let e = engine(store);
    let s = rt()
        .block_on(e.score(period, Some(as_of.parse().unwrap())))
        .unwrap();
    s.indicators
        .iter()
        .filter(|v| v.indicator == indicator)
        .map(|v| v.denominator)
        .sum()
}

#[test]
fn data_entry_accounts_and_monitoring() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = format!(
        "{CASE_HEADER},amount_to_recover_vnd,amount_recovered_vnd
C1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,Lê Văn A,001,Nội dung,Kết quả,2,1000000,400000
C2,U1,2026-01-06 09:00,mail,complaint,1,normal,false,false,,,Nội dung,   ,1,500000,
C3,U2,2026-01-07 09:00,mail,complaint,1,normal,false,false,Lê Văn A,001,Nội dung,Kết quả,0,,
C4,U1,2026-02-02 09:00,mail,reflection,,normal,false,false,Lê  văn a,,,,0,,
"
    );
    let events = format!(
        "{EVENTS}
E1,C1,accepted,2026-01-06 09:00,2026-01-06 10:00
E2,C1,settled,2026-02-02 09:00,2026-02-04 09:00
E3,C2,accepted,2026-01-07 09:00,
E4,C2,settled,2026-02-03 09:00,2026-02-03 09:00
E5,C3,accepted,2026-01-08 09:00,2026-01-09 17:00
E6,C3,settled,2026-03-02 09:00,2026-03-02 09:00
E7,C4,received,2026-02-02 09:00,
"
    );
    let officials = "assignment_id,official_ref,unit_code,duty,assigned_from,assigned_to,account_id,account_granted_at,account_revoked_at,last_login_at
A1,P1,U1,reception,2020-01-01,,ACC1,2020-01-02 08:00,,
A2,P2,U1,case_handling,2020-01-01,,,,,
A3,P3,U1,case_handling,2020-01-01,2025-12-31,ACC3,2020-01-02 08:00,,
A4,P4,U1,case_handling,2020-01-01,2025-12-31,ACC4,2020-01-02 08:00,2026-01-02 08:00,
A5,P5,U1,case_handling,2020-01-01,2025-12-31,ACC5,2020-01-02 08:00,,
A6,P5,U2,case_handling,2026-01-01,,ACC5,2020-01-02 08:00,,
A7,P7,U1,leadership,2020-01-01,2026-03-15,ACC7,2020-01-02 08:00,,
A8,P8,U1,reception,2020-01-01,2024-12-31,ACC8,2020-01-02 08:00,,
A9,P9,U1,reception,2026-04-01,,ACC9,2026-04-01 08:00,,
";
    let store = store_with(
        tmp.path(),
        &[(
            "2026-03-31",
            &[
                ("units.csv", UNITS),
                ("cases.csv", &cases),
                ("case_events.csv", &events),
                ("officials.csv", officials),
            ],
        )],
    );
    let c01 = counts(&store, "2026-Q1", "2026-03-31", "01");
    let c04 = counts(&store, "2026-Q1", "2026-03-31", "04");
    // e1: records in Q1 of 01: E1, E2, E3, E4 (E7 is not a record kind);
    // entered: E1, E2, E4. e2: E1 same day, E2 Mon→Wed = 2 working days
    // (late), E4 same day.
    assert_eq!(count_of(&c01, "e1_entry_coverage"), "3/4");
    assert_eq!(count_of(&c01, "e2_entry_timeliness"), "2/4");
    // Province 04: E5 entered the next day (on time), E6 same day.
    assert_eq!(count_of(&c04, "e2_entry_timeliness"), "2/2");
    // e3: settled in Q1 in 01: C1 (complete), C2 (blank result) → 1/2;
    // in 04: C3 has no attachment → 0/1.
    assert_eq!(count_of(&c01, "e3_record_completeness"), "1/2");
    assert_eq!(count_of(&c04, "e3_record_completeness"), "0/1");
    // e4 at 31 March: active assignments A1 (account), A2 (none), A7 (ends
    // 15 March: no), A6 in 04. In 01: A1, A2 → 1/2.
    assert_eq!(count_of(&c01, "e4_account_coverage"), "1/2");
    assert_eq!(count_of(&c04, "e4_account_coverage"), "1/1");
    // e5 at 31 March, window [2025-03-01, 2026-03-01]: ACC3 ended
    // 2025-12-31, holder off duty, still open (stale: not in the
    // numerator). ACC4 ended then too and was revoked (closed: numerator). ACC5's holder moved
    // to U2 and is on duty → not counted. ACC7 ended 16 days ago → not yet
    // in the window. ACC8 ended 455 days ago → outside the window. ACC9
    // starts after pe' → ignored.
    assert_eq!(count_of(&c01, "e5_account_hygiene"), "1/2");
    // x1: C3 has C1's requester but is in another province (04); C2 has
    // no requester reference; C4's requester (by name) differs from C1's
    // (by id). In 01: C1 and C4, no repeat.
    assert_eq!(count_of(&c01, "x1_repeat_requests"), "0/2");
    // x2 in 01: C1 1,000,000 to recover, 400,000 back; C2 500,000, none.
    assert_eq!(count_of(&c01, "x2_recovery_rate"), "400000/1500000");
}

#[test]
fn repeat_requests_count_within_the_current_province_across_the_merger() {
    let tmp = tempfile::tempdir().unwrap();
    let units = "unit_code,unit_name,level,province_code,valid_from,valid_to
HG,BHXH Hà Giang,province,02,2016-01-01,2025-06-30
TQ,BHXH Tuyên Quang,province,08,2025-07-01,
";
    let cases = format!(
        "{CASE_HEADER}
R1,HG,2025-03-01 09:00,mail,complaint,1,normal,false,false,,079111,,,0
R2,TQ,2025-08-01 09:00,mail,complaint,2,normal,false,false,,079111,,,0
R3,TQ,2025-08-02 09:00,mail,reflection,,normal,false,false,,079222,,,0
R4,TQ,2024-08-01 09:00,mail,reflection,,normal,false,false,,079222,,,0
"
    );
    let store = store_with(
        tmp.path(),
        &[("2025-09-30", &[("units.csv", units), ("cases.csv", &cases)])],
    );
    let q3 = counts(&store, "2025-Q3", "2025-09-30", "08");
    // R2 repeats R1 (Hà Giang is now part of Tuyên Quang); R3's earlier
    // case is 366 days before, outside the 365-day window.
    assert_eq!(count_of(&q3, "x1_repeat_requests"), "1/2");
}

#[test]
fn an_earlier_as_of_score_is_unchanged_by_later_extracts() {
    let tmp = tempfile::tempdir().unwrap();
    let jan = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    let jan_events = format!("{EVENTS}\nE1,C1,accepted,2026-01-26 09:00,\n");
    // February corrects the acceptance to on time and adds a case.
    let feb = format!(
        "{CASE_HEADER}\nC2,U1,2026-02-02 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    let feb_events = format!("{EVENTS}\nE1,C1,accepted,2026-01-12 09:00,\n");
    let store = store_with(
        tmp.path(),
        &[
            (
                "2026-01-31",
                &[
                    ("units.csv", UNITS),
                    ("cases.csv", &jan),
                    ("case_events.csv", &jan_events),
                ],
            ),
            (
                "2026-02-28",
                &[("cases.csv", &feb), ("case_events.csv", &feb_events)],
            ),
        ],
    );
    let before = counts(&store, "2026-01", "2026-01-31", "01");
    assert_eq!(count_of(&before, "d1_acceptance_on_time"), "0/1");
    let after = counts(&store, "2026-01", "2026-02-28", "01");
    assert_eq!(count_of(&after, "d1_acceptance_on_time"), "1/1");
    // As of mid-February means as of 31 January: the same numbers as before.
    assert_eq!(counts(&store, "2026-01", "2026-02-15", "01"), before);
    let e = engine(&store);
    let err = rt()
        .block_on(e.score("2026-03", Some("2026-02-28".parse().unwrap())))
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("after the as-of date"),
        "{err:#}"
    );
    let err = rt().block_on(e.score("2021-12", None)).unwrap_err();
    assert!(format!("{err:#}").contains("coverage"), "{err:#}");
    assert!(Period::parse("2026-Q5").is_err());
}

#[test]
fn scores_are_tables_for_analysts() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = format!(
        "{CASE_HEADER}\nC1,U1,2026-01-05 09:00,mail,complaint,1,normal,false,false,,,,,0\n"
    );
    let events = format!("{EVENTS}\nE1,C1,accepted,2026-01-06 09:00,2026-01-06 10:00\n");
    let store = store_with(
        tmp.path(),
        &[(
            "2026-03-31",
            &[
                ("units.csv", UNITS),
                ("cases.csv", &cases),
                ("case_events.csv", &events),
            ],
        )],
    );
    let e = engine(&store);
    let periods = [
        Period::parse("2026-01").unwrap(),
        Period::parse("2026-Q1").unwrap(),
    ];
    let rows = rt().block_on(async {
        let (ctx, _) = e.analyst_context(None, &periods).await.unwrap();
        let q = "SELECT period, count(*), count(composite), max(d1_acceptance_on_time_den) FROM league_table GROUP BY period ORDER BY period";
        let a = ctx.sql(q).await.unwrap().collect().await.unwrap();
        let b = ctx
            .sql("SELECT count(*) FROM indicator_values")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let c = ctx
            .sql("SELECT count(*) FROM stages")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        [a, b, c]
            .iter()
            .map(|x| {
                datafusion::arrow::util::pretty::pretty_format_batches(x)
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    // 34 provinces per period; only Hà Nội has data (one indicator area
    // each: D and E), so one composite; 13 indicators × 34 × 2 periods.
    assert!(rows.contains("| 2026-01 | 34"), "{rows}");
    assert!(rows.contains("| 2026-Q1 | 34"), "{rows}");
    assert!(rows.contains("884"), "{rows}");
}

/// The rows as printed, one line each, sorted.
fn sorted_lines(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<String> {
    let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A folder of extracts ingested in one run is committed in groups, each
/// slot written once a group; the facts then hold exactly the versions
/// (content, first and last extract) of one commit per extract, so every
/// as-of reads the same.
#[test]
fn a_run_committed_in_groups_keeps_the_versions_of_one_commit_per_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let one_by_one = sample_store_in(&tmp.path().join("one"));
    let grouped = Store::open(tmp.path().join("grouped")).unwrap();
    let dirs = vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts")).unwrap();
    // As `vigil ingest` runs a folder: each next extract staged while the
    // one before is maintained.
    let mut run = vigil::extract::run::Run::open(&grouped, &Reference::bundled()).unwrap();
    let folders: Vec<_> = dirs.iter().map(|(_, d)| d.clone()).collect();
    let mut landed = 0;
    run.add_all(&folders, &key(), |_| landed += 1).unwrap();
    assert_eq!(landed, dirs.len());
    run.commit().unwrap();
    drop(run);
    let cat = grouped.catalog().unwrap();
    assert_eq!(cat.extracts.len(), dirs.len());
    let state = cat.facts.clone().unwrap();
    // Fewer generations than extracts: the run was committed in groups.
    assert!(
        state.generation * 3 < dirs.len() as u64,
        "{}",
        state.generation
    );
    let derivation = vigil::facts::Derivation::bundled();
    // As of the first extract, `<fact>_versions` is every version ever
    // made (the current tier and every closed file after the first date).
    let versions = |store: &Store, sql: &str| {
        let cat = store.catalog().unwrap();
        let f = cat.facts.unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        let batches = rt().block_on(async {
            vigil::facts::register(
                &ctx,
                &store.facts_dir(&f.dir),
                f.generation,
                dirs[0].0,
                &derivation,
            )
            .await
            .unwrap();
            ctx.sql(sql).await.unwrap().collect().await.unwrap()
        });
        sorted_lines(&batches)
    };
    for fact in vigil::facts::FACTS.iter().map(|f| f.name) {
        let sql = format!("SELECT * FROM {fact}_versions");
        let expected = versions(&one_by_one, &sql);
        let got = versions(&grouped, &sql);
        assert_eq!(got.len(), expected.len(), "{fact}");
        assert!(got == expected, "{fact}: the versions differ");
    }
    // The history compared holds superseded versions, some superseded
    // within a group.
    let closed = versions(
        &grouped,
        "SELECT count(DISTINCT version_to) FROM case_facts_versions WHERE version_to IS NOT NULL",
    );
    let n: usize = closed
        .iter()
        .find_map(|l| l.trim_matches(|c| c == '|' || c == ' ').parse().ok())
        .unwrap();
    assert!(n > 20, "{n} extracts superseded case versions");
}

/// The facts maintained extract by extract give, at every as-of, the same
/// current rows, case progress, stages and entry records as deriving them
/// from scratch over the whole version history (how scoring read the store
/// before the facts existed).
#[test]
fn facts_maintained_at_ingest_equal_a_derivation_from_the_history() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sample_store_in(&tmp.path().join("store"));
    let dirs = vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts")).unwrap();
    let e = Engine::bundled(store.clone());
    let query = |name: &str| std::fs::read_to_string(repo().join("queries").join(name)).unwrap();
    let entry_cols = "unit_code, record_kind, record_id, occurred_date, entered_at";
    // A row sent again unchanged keeps its version in the facts, dated by
    // the extract that first sent it; everything else is the same.
    let checks = [
        "SELECT * EXCEPT (extract_date) FROM units",
        "SELECT * EXCEPT (extract_date) FROM reception_sessions",
        "SELECT * EXCEPT (extract_date) FROM cases",
        "SELECT * EXCEPT (extract_date) FROM case_events",
        "SELECT * EXCEPT (extract_date) FROM officials",
        "SELECT * EXCEPT (extract_date) FROM inspections",
        "SELECT * FROM unit_province",
        "SELECT * FROM case_progress",
        "SELECT * FROM stages",
    ];
    // Every sixth extract, and the last: past as-ofs as well as the current one.
    let dates: Vec<_> = dirs
        .iter()
        .map(|(d, _)| *d)
        .enumerate()
        .filter(|(i, _)| i % 6 == 5 || *i == dirs.len() - 1)
        .map(|(_, d)| d)
        .collect();
    assert!(dates.len() >= 9);
    let dump = |ctx: &datafusion::prelude::SessionContext, sql: &str| {
        let batches = rt().block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() });
        sorted_lines(&batches)
    };
    for as_of in dates {
        let (facts, _) = rt().block_on(e.context(Some(as_of))).unwrap();
        let raw = datafusion::prelude::SessionContext::new();
        rt().block_on(async {
            store.register(&raw, Some(as_of)).await.unwrap();
            e.derivation().register(&raw).unwrap();
            for v in [
                "unit_province",
                "case_progress",
                "stages",
            ] {
                raw.sql(&format!("CREATE VIEW {v} AS {}", query(&format!("{v}.sql"))))
                    .await
                    .unwrap();
            }
            raw.sql(
                "CREATE VIEW entry_records AS \
                 SELECT s.unit_code, 'reception_session' AS record_kind, s.session_id AS record_id, \
                        s.session_date AS occurred_date, s.db_entered_at AS entered_at \
                 FROM reception_sessions s UNION ALL \
                 SELECT c.unit_code, 'case_event_' || e.event_type, e.event_id, \
                        CAST(e.occurred_at AS DATE), e.db_entered_at \
                 FROM case_events e JOIN cases c ON c.case_id = e.case_id \
                 WHERE e.event_type IN ('accepted', 'extended', 'transferred', 'settled')",
            )
            .await
            .unwrap();
        });
        let entry = format!("SELECT {entry_cols} FROM entry_records");
        for sql in checks.iter().copied().chain([entry.as_str()]) {
            let want = dump(&raw, sql);
            assert!(
                want.len() > 3 || sql.contains("inspections"),
                "{sql} as of {as_of}"
            );
            assert_eq!(dump(&facts, sql), want, "{sql} as of {as_of}");
        }
    }
}

#[test]
fn kept_counts_score_as_counted_and_serve_only_their_own_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sample_store_in(&tmp.path().join("store"));
    let kept = store.root().join("cache/indicators");
    let league = |s: &vigil::score::scoring::Scores| serde_json::to_string(&s.league).unwrap();
    let fresh = Engine::bundled(store.clone());
    let keeping = Engine::bundled(store.clone()).keeping_counts();
    let score = |e: &Engine, as_of: Option<&str>| {
        rt().block_on(e.score("2026-Q3", as_of.map(|d| d.parse().unwrap())))
            .unwrap()
    };

    // `score` counts afresh and keeps nothing.
    let counted = score(&fresh, None);
    assert!(!kept.exists());
    // Kept once, then read back: the same counts, scores, tiers and ranks.
    let first = score(&keeping, None);
    assert_eq!(files_in(&kept).len(), 1);
    let again = score(&keeping, None);
    assert_eq!(files_in(&kept).len(), 1);
    for s in [&first, &again] {
        assert_eq!(s.indicators, counted.indicators);
        assert_eq!(league(s), league(&counted));
        assert_eq!(s.effective_end, counted.effective_end);
    }

    // What is read is the file: a count changed in it shows where counts
    // are kept, and not where they are counted afresh.
    let file = files_in(&kept).remove(0);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for c in doc["counts"].as_array_mut().unwrap() {
        c["numerator"] = 0.into();
    }
    std::fs::write(&file, doc.to_string()).unwrap();
    let changed = score(&keeping, None);
    assert!(changed.indicators.iter().all(|v| v.numerator == 0));
    assert_ne!(changed.indicators, counted.indicators);
    assert_eq!(score(&fresh, None).indicators, counted.indicators);

    // Another as-of, or other rules: counted, and kept under names of
    // their own.
    let earlier = score(&keeping, Some("2026-10-15"));
    assert_eq!(files_in(&kept).len(), 2);
    assert_eq!(
        earlier.indicators,
        score(&fresh, Some("2026-10-15")).indicators
    );
    let mut rules = Rules::bundled();
    rules.tiers.a += 1.0;
    let calendar = rules.shipped_calendar();
    let other = Engine::new(store.clone(), rules, calendar, Reference::bundled()).keeping_counts();
    assert_eq!(score(&other, None).indicators, counted.indicators);
    assert_eq!(files_in(&kept).len(), 3);
}
