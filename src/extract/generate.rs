//! Realistic synthetic extracts: monthly extracts of the six tables from
//! provincial offices whose behaviour differs and stays consistent.
//!
//! Shape of the data:
//! - one central unit; 63 provincial offices with local offices until
//!   2025-06-30, 34 with new local offices from 2025-07-01 (Hà Nội's office
//!   keeps its code and continues across the merger);
//! - each current province has a behaviour profile (exemplary, average,
//!   heads skipping reception, chronic backlog, slow data entry, stale
//!   accounts, or several bad traits at once) inherited by its former
//!   provinces, written to `profiles.json`;
//! - cases at about 50,000 a year × scale, seasonal around Tết, with VssID
//!   requests, complaints of both rounds, denunciations with extensions,
//!   remote-area and multi-party cases, repeat requesters, raw names and id
//!   numbers (the ingest pseudonymizes them);
//! - every monthly extract carries what happened in its month and repeats
//!   the month before (overlap), rows as known at the extract date (an entry
//!   time or a result appears once it exists), plus a few late corrections.
//!
//! Memory stays bounded: cases are generated month by month and kept only
//! while some future extract still has to carry them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::reference::calendar::Calendar;
use crate::reference::contract::Table;
use crate::reference::dates::day_number;
use crate::reference::{Reference, merger_date};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Parquet,
    Mixed,
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub scale: f64,
    pub first_month: (i32, u32),
    pub last_month: (i32, u32),
    pub format: OutputFormat,
    pub progress: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("extracts"),
            seed: 1,
            scale: 1.0,
            first_month: (2022, 1),
            last_month: (2026, 10),
            format: OutputFormat::Mixed,
            progress: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateSummary {
    pub extracts: usize,
    pub rows: BTreeMap<String, u64>,
    pub cases: u64,
}

/// Cases a year nationwide at scale 1.
const CASES_PER_YEAR: f64 = 50_000.0;

// ---------------------------------------------------------------------------
// Behaviour

#[derive(Debug, Clone, Serialize)]
pub struct Behaviour {
    pub profile: &'static str,
    /// Monthly probability that the head hosts the periodic session.
    pub head_rate: f64,
    /// Probability that a deadline stage is met.
    pub on_time: f64,
    /// Probability that a settlement is left open for good.
    pub left_open: f64,
    /// Probability that a VssID request is answered within the hour.
    pub vssid_on_time: f64,
    /// Probability that a record is never entered in the national database.
    pub entry_missing: f64,
    /// Probability that an entered record is entered within a working day.
    pub entry_on_time: f64,
    /// Probability that an official gets no account.
    pub no_account: f64,
    /// Probability that an account is revoked when its assignment ends.
    pub revoke: f64,
    /// Probability that a settled case's file is incomplete.
    pub sloppy_file: f64,
}

fn behaviour(profile: &'static str) -> Behaviour {
    let mut b = Behaviour {
        profile,
        head_rate: 0.85,
        on_time: 0.88,
        left_open: 0.02,
        vssid_on_time: 0.85,
        entry_missing: 0.05,
        entry_on_time: 0.85,
        no_account: 0.05,
        revoke: 0.9,
        sloppy_file: 0.1,
    };
    match profile {
        "exemplary" => {
            b.head_rate = 0.98;
            b.on_time = 0.97;
            b.left_open = 0.0;
            b.vssid_on_time = 0.97;
            b.entry_missing = 0.01;
            b.entry_on_time = 0.97;
            b.no_account = 0.0;
            b.revoke = 1.0;
            b.sloppy_file = 0.02;
        }
        "head_skips_reception" => b.head_rate = 0.3,
        "chronic_backlog" => {
            b.on_time = 0.5;
            b.left_open = 0.15;
            b.vssid_on_time = 0.55;
        }
        "slow_data_entry" => {
            b.entry_missing = 0.3;
            b.entry_on_time = 0.4;
            b.sloppy_file = 0.3;
        }
        "stale_accounts" => {
            b.no_account = 0.3;
            b.revoke = 0.2;
        }
        "worst" => {
            b.head_rate = 0.35;
            b.on_time = 0.5;
            b.left_open = 0.2;
            b.vssid_on_time = 0.5;
            b.entry_missing = 0.3;
            b.entry_on_time = 0.45;
            b.no_account = 0.3;
            b.revoke = 0.2;
            b.sloppy_file = 0.35;
        }
        _ => {}
    }
    b
}

#[derive(Debug, Clone, Serialize)]
struct ProvinceProfile {
    code: String,
    name_vi: String,
    weight: f64,
    behaviour: Behaviour,
}

/// Rough share of the national caseload: the two largest cities weigh most,
/// a merged province weighs its members.
fn province_weights(reference: &Reference) -> BTreeMap<String, f64> {
    let mut w = BTreeMap::new();
    for l in &reference.lineage {
        let member = match l.old_code.as_str() {
            "79" => 6.0,
            "01" => 5.0,
            "74" | "75" | "31" | "48" | "92" => 2.0,
            _ => 1.0,
        };
        *w.entry(l.new_code.clone()).or_insert(0.0) += member;
    }
    w
}

fn assign_profiles(reference: &Reference, rng: &mut ChaCha8Rng) -> Vec<ProvinceProfile> {
    let weights = province_weights(reference);
    let mut codes: Vec<String> = reference.provinces.iter().map(|p| p.code.clone()).collect();
    // Fisher–Yates with our own generator keeps the assignment stable.
    for i in (1..codes.len()).rev() {
        let j = rng.random_range(0..=i);
        codes.swap(i, j);
    }
    let plan: [(&'static str, usize); 6] = [
        ("exemplary", 6),
        ("worst", 3),
        ("head_skips_reception", 3),
        ("chronic_backlog", 3),
        ("slow_data_entry", 3),
        ("stale_accounts", 3),
    ];
    let mut profile_of = BTreeMap::new();
    let mut it = codes.iter();
    for (profile, n) in plan {
        for code in it.by_ref().take(n) {
            profile_of.insert(code.clone(), profile);
        }
    }
    reference
        .provinces
        .iter()
        .map(|p| ProvinceProfile {
            code: p.code.clone(),
            name_vi: p.name_vi.clone(),
            weight: weights.get(&p.code).copied().unwrap_or(1.0),
            behaviour: behaviour(profile_of.get(&p.code).copied().unwrap_or("average")),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Units and officials

#[derive(Debug, Clone)]
struct Unit {
    code: String,
    name: String,
    level: &'static str,
    province_code: Option<String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    /// Index into the profiles (current province); None for central.
    province: Option<usize>,
}

#[derive(Debug, Clone)]
struct Assignment {
    id: String,
    official: String,
    unit: String,
    duty: &'static str,
    from: NaiveDate,
    to: Option<NaiveDate>,
    account: Option<String>,
    granted: Option<NaiveDateTime>,
    revoked: Option<NaiveDateTime>,
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
}

fn at(date: NaiveDate, h: u32, m: u32) -> NaiveDateTime {
    date.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time"))
}

fn build_units(reference: &Reference, profiles: &[ProvinceProfile], scale: f64) -> Vec<Unit> {
    let index: BTreeMap<&str, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.code.as_str(), i))
        .collect();
    let merger = merger_date();
    let before = merger - Duration::days(1);
    let start = d(2016, 1, 1);
    // About 700 local offices at scale 1; fewer for small samples.
    let per_member = |w: f64| ((11.0 * w.sqrt() * scale.sqrt().min(1.0)).round() as usize).max(1);
    let mut units = vec![Unit {
        code: "VSS".into(),
        name: "Bảo hiểm xã hội Việt Nam".into(),
        level: "central",
        province_code: None,
        valid_from: start,
        valid_to: None,
        province: None,
    }];
    let weights = province_weights(reference);
    for l in &reference.lineage {
        let p = index[l.new_code.as_str()];
        let kept = l.old_code == "01";
        units.push(Unit {
            code: format!("P{}", l.old_code),
            name: format!("Bảo hiểm xã hội tỉnh {}", l.old_name_vi),
            level: "province",
            province_code: Some(l.old_code.clone()),
            valid_from: start,
            valid_to: (!kept).then_some(before),
            province: Some(p),
        });
        let member_weight = if l.old_code == "79" {
            6.0
        } else if l.old_code == "01" {
            5.0
        } else {
            1.0
        };
        for k in 1..=per_member(member_weight) {
            units.push(Unit {
                code: format!("P{}-L{k:02}", l.old_code),
                name: format!("Bảo hiểm xã hội khu vực {} số {k}", l.old_name_vi),
                level: "local",
                province_code: Some(l.old_code.clone()),
                valid_from: start,
                valid_to: Some(before),
                province: Some(p),
            });
        }
    }
    for (i, p) in profiles.iter().enumerate() {
        if p.code != "01" {
            units.push(Unit {
                code: format!("N{}", p.code),
                name: format!("Bảo hiểm xã hội tỉnh {}", p.name_vi),
                level: "province",
                province_code: Some(p.code.clone()),
                valid_from: merger,
                valid_to: None,
                province: Some(i),
            });
        }
        let w = weights.get(&p.code).copied().unwrap_or(1.0);
        for k in 1..=per_member(w / 2.0) {
            units.push(Unit {
                code: format!("N{}-C{k:02}", p.code),
                name: format!("Bảo hiểm xã hội cơ sở {} số {k}", p.name_vi),
                level: "local",
                province_code: Some(p.code.clone()),
                valid_from: merger,
                valid_to: None,
                province: Some(i),
            });
        }
    }
    units
}

/// An official carried to a new unit at the merger, with the account.
type Holder = (String, Option<String>, Option<NaiveDateTime>);

/// A requester seen recently: name, id number, the case they sent.
type Requester = (Option<String>, Option<String>, String);

/// id, province, kind, start, planned end, findings.
type Inspection = (
    String,
    String,
    &'static str,
    NaiveDate,
    Option<NaiveDate>,
    i32,
);

fn build_officials(
    units: &[Unit],
    profiles: &[ProvinceProfile],
    end: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut next_official = 1u32;
    let mut next_account = 1u32;
    // Officials of closed units who move to the new units at the merger.
    let mut movers: BTreeMap<usize, Vec<Holder>> = BTreeMap::new();
    for u in units {
        let Some(pi) = u.province else { continue };
        let b = &profiles[pi].behaviour;
        for duty in ["reception", "case_handling", "leadership"] {
            let mut from = u.valid_from.max(d(2019, 1, 1));
            let unit_end = u.valid_to.unwrap_or(end + Duration::days(3650));
            let mut carried = if u.valid_from == merger_date() {
                movers.get_mut(&pi).and_then(|v| v.pop())
            } else {
                None
            };
            while from <= end && from <= unit_end {
                let months = rng.random_range(12..48);
                let planned = from + Duration::days(30 * months);
                let to = (planned < unit_end).then_some(planned).or(u.valid_to);
                let (official, account, granted) = match carried.take() {
                    Some(c) => c,
                    None => {
                        let official = format!("OFF-{next_official:06}");
                        next_official += 1;
                        if rng.random_bool(b.no_account) {
                            (official, None, None)
                        } else {
                            let acc = format!("CSDL-{next_account:06}");
                            next_account += 1;
                            let g = at(from, 9, rng.random_range(0..60))
                                + Duration::days(rng.random_range(0..10));
                            (official, Some(acc), Some(g))
                        }
                    }
                };
                let moves_at_merger =
                    u.valid_to == Some(merger_date() - Duration::days(1)) && to == u.valid_to;
                let revoked = match (to, &account) {
                    (Some(t), Some(_)) if !moves_at_merger && rng.random_bool(b.revoke) => {
                        Some(at(t + Duration::days(rng.random_range(0..5)), 10, 0))
                    }
                    _ => None,
                };
                // A revocation never precedes the grant.
                let revoked = revoked
                    .zip(granted)
                    .map(|(r, g)| r.max(g + Duration::hours(1)));
                out.push(Assignment {
                    id: format!("ASG-{}-{duty}-{}", u.code, from.format("%Y%m%d")),
                    official: official.clone(),
                    unit: u.code.clone(),
                    duty,
                    from,
                    to,
                    account: account.clone(),
                    granted,
                    revoked,
                });
                if moves_at_merger && rng.random_bool(0.5) {
                    movers
                        .entry(pi)
                        .or_default()
                        .push((official, account, granted));
                }
                match to {
                    Some(t) => from = t + Duration::days(1),
                    None => break,
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Cases

#[derive(Debug, Clone)]
struct Event {
    id: String,
    kind: &'static str,
    at: NaiveDateTime,
    entered: Option<NaiveDateTime>,
}

#[derive(Debug, Clone)]
struct Case {
    id: String,
    unit: Rc<str>,
    received: NaiveDateTime,
    channel: &'static str,
    case_type: &'static str,
    round: Option<i32>,
    complexity: &'static str,
    /// Before this instant the extracts show `normal` (a late correction).
    complexity_known: Option<NaiveDateTime>,
    remote: bool,
    multi_party: bool,
    name: Option<String>,
    id_number: Option<String>,
    content: String,
    result: Option<String>,
    attachments: i32,
    to_recover: Option<i64>,
    recovered: Option<i64>,
    related: Option<String>,
    settled: Option<NaiveDateTime>,
    events: Vec<Event>,
}

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE: &[&str] = &[
    "Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc", "Thu",
];
const GIVEN: &[&str] = &[
    "An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh", "Lan",
    "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang",
    "Tuấn", "Vân", "Yến",
];
const TOPICS: &[&str] = &[
    "chậm giải quyết chế độ ốm đau",
    "sai mức hưởng lương hưu",
    "chưa được cấp thẻ bảo hiểm y tế",
    "doanh nghiệp nợ đóng bảo hiểm xã hội",
    "thông tin trên ứng dụng VssID không đúng",
    "trợ cấp thất nghiệp bị từ chối",
    "thái độ của cán bộ tiếp nhận hồ sơ",
    "chi trả bảo hiểm xã hội một lần",
];

/// Working instant of a day: mostly office hours.
fn office_time(day: NaiveDate, rng: &mut ChaCha8Rng) -> NaiveDateTime {
    let h = [8, 9, 10, 11, 13, 14, 15, 16]
        .choose(rng)
        .copied()
        .unwrap_or(9);
    at(day, h, rng.random_range(0..60))
}

fn random_day(month_start: NaiveDate, month_end: NaiveDate, rng: &mut ChaCha8Rng) -> NaiveDate {
    let span = (month_end - month_start).num_days();
    month_start + Duration::days(rng.random_range(0..=span))
}

fn working_day_in(
    cal: &Calendar,
    start: NaiveDate,
    end: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> NaiveDate {
    for _ in 0..20 {
        let day = random_day(start, end, rng);
        if cal.is_working_day(day) {
            return day;
        }
    }
    start
}

struct CaseMaker<'a> {
    cal: &'a Calendar,
    profiles: &'a [ProvinceProfile],
    next_event: u64,
    /// Recent requesters per province, for repeat requests.
    recent: Vec<Vec<Requester>>,
}

impl CaseMaker<'_> {
    fn person(
        &mut self,
        p: usize,
        rng: &mut ChaCha8Rng,
    ) -> (Option<String>, Option<String>, Option<String>) {
        if !self.recent[p].is_empty() && rng.random_bool(0.1) {
            let i = rng.random_range(0..self.recent[p].len());
            let (n, id, case) = self.recent[p][i].clone();
            return (n, id, Some(case));
        }
        let name = format!(
            "{} {} {}",
            FAMILY.choose(rng).unwrap(),
            MIDDLE.choose(rng).unwrap(),
            GIVEN.choose(rng).unwrap()
        );
        let roll: f64 = rng.random();
        let (name, id) = if roll < 0.8 {
            (
                Some(name),
                Some(format!("0{:011}", rng.random_range(0..100_000_000_000u64))),
            )
        } else if roll < 0.97 {
            (Some(name), None)
        } else {
            (None, None)
        };
        (name, id, None)
    }

    fn event(
        &mut self,
        case: &str,
        kind: &'static str,
        t: NaiveDateTime,
        b: &Behaviour,
        rng: &mut ChaCha8Rng,
    ) -> Event {
        self.next_event += 1;
        let entered = if matches!(kind, "accepted" | "extended" | "transferred" | "settled") {
            entry_time(self.cal, t, b, rng)
        } else if rng.random_bool(0.7) {
            Some(t + Duration::minutes(rng.random_range(5..240)))
        } else {
            None
        };
        Event {
            id: format!("{case}-E{}", self.next_event),
            kind,
            at: t,
            entered,
        }
    }

    fn make(
        &mut self,
        id: String,
        unit: &Unit,
        unit_rc: Rc<str>,
        day: NaiveDate,
        rng: &mut ChaCha8Rng,
    ) -> Case {
        let p = unit.province.expect("cases go to provincial units");
        let b = self.profiles[p].behaviour.clone();
        // Event ids are numbered within their case.
        self.next_event = 0;
        let cal = self.cal;
        let channel = *[
            ("in_person", 30),
            ("mail", 15),
            ("online_portal", 20),
            ("vssid", 15),
            ("hotline", 12),
            ("transferred_in", 8),
        ]
        .choose_weighted(rng, |c| c.1)
        .unwrap();
        let channel = channel.0;
        let case_type = [
            ("complaint", 35),
            ("denunciation", 10),
            ("recommendation", 30),
            ("reflection", 25),
        ]
        .choose_weighted(rng, |c| c.1)
        .unwrap()
        .0;
        let complexity = [("normal", 75), ("complex", 20), ("especially_complex", 5)]
            .choose_weighted(rng, |c| c.1)
            .unwrap()
            .0;
        let received = if channel == "vssid" && rng.random_bool(0.25) {
            // VssID requests arrive at any hour, weekends included.
            at(day, rng.random_range(6..23), rng.random_range(0..60))
        } else {
            office_time(day, rng)
        };
        let (name, id_number, previous) = self.person(p, rng);
        let round = (case_type == "complaint").then(|| {
            if previous.is_some() && rng.random_bool(0.6) || rng.random_bool(0.08) {
                2
            } else {
                1
            }
        });
        let remote = rng.random_bool(
            if matches!(
                self.profiles[p].code.as_str(),
                "04" | "08" | "11" | "12" | "14" | "15" | "20"
            ) {
                0.25
            } else {
                0.07
            },
        );
        let topic = TOPICS.choose(rng).unwrap();
        let mut events = Vec::new();
        let on_time = rng.random_bool(b.on_time);
        let mut settled = None;
        let ev_day = |t: NaiveDateTime, rng: &mut ChaCha8Rng| {
            office_time(t.date(), rng).max(t + Duration::minutes(1))
        };
        events.push(self.event(&id, "received", received, &b, rng));
        if channel == "vssid" {
            let answer = if rng.random_bool(b.vssid_on_time) {
                cal.wh_add(received, rng.random_range(5..55) * 60)
            } else {
                cal.wh_add(received, rng.random_range(62..3000) * 60)
            };
            events.push(self.event(&id, "responded", answer, &b, rng));
        }
        let withdrawn = rng.random_bool(0.03);
        match case_type {
            "complaint" | "denunciation" => {
                let limit = if case_type == "complaint" { 10 } else { 7 };
                let wd = if on_time {
                    rng.random_range(1..=limit)
                } else {
                    limit + rng.random_range(1..15)
                };
                let acc_day = cal.wd_add(received.date(), wd);
                let acc = ev_day(at(acc_day, 8, 0), rng).max(received + Duration::minutes(30));
                if rng.random_bool(0.05) {
                    events.push(self.event(&id, "transferred", acc, &b, rng));
                } else if withdrawn {
                    events.push(self.event(&id, "withdrawn", acc, &b, rng));
                } else {
                    events.push(self.event(&id, "accepted", acc, &b, rng));
                    let complex = complexity != "normal";
                    let base: i64 = if case_type == "complaint" {
                        match (round == Some(2), remote, complex) {
                            (false, false, false) => 30,
                            (false, true, true) => 60,
                            (false, _, _) => 45,
                            (true, false, false) => 45,
                            (true, true, true) => 70,
                            (true, _, _) => 60,
                        }
                    } else {
                        30
                    };
                    let mut allowed = base;
                    if case_type == "denunciation" {
                        let max_ext = match complexity {
                            "complex" => 1,
                            "especially_complex" => 2,
                            _ => 0,
                        };
                        let n = rng.random_range(0..=max_ext)
                            + if rng.random_bool(0.05) { 1 } else { 0 };
                        for k in 0..n {
                            let t = ev_day(
                                at(acc.date() + Duration::days(20 + 25 * k as i64), 9, 0),
                                rng,
                            );
                            events.push(self.event(&id, "extended", t, &b, rng));
                        }
                        allowed += 30 * n.min(max_ext) as i64;
                    }
                    if !rng.random_bool(b.left_open) {
                        let days = if rng.random_bool(b.on_time) {
                            rng.random_range(allowed / 3..=allowed - 2)
                        } else {
                            allowed + rng.random_range(5..90)
                        };
                        let deadline_day = cal.cal_deadline(acc.date(), days);
                        let t = ev_day(at(deadline_day, 8, 0), rng).max(acc + Duration::hours(1));
                        events.push(self.event(&id, "settled", t, &b, rng));
                        settled = Some(t);
                        if rng.random_bool(0.01) {
                            let r = ev_day(at(t.date() + Duration::days(20), 9, 0), rng);
                            events.push(self.event(&id, "reopened", r, &b, rng));
                        }
                    }
                }
            }
            _ => {
                if channel != "vssid" {
                    let wd = if on_time {
                        rng.random_range(1..=10)
                    } else {
                        10 + rng.random_range(1..12)
                    };
                    let t = ev_day(at(cal.wd_add(received.date(), wd), 8, 0), rng);
                    let kind = if withdrawn { "withdrawn" } else { "responded" };
                    events.push(self.event(&id, kind, t, &b, rng));
                }
            }
        }
        let sloppy = rng.random_bool(b.sloppy_file);
        let to_recover = (case_type == "complaint" && rng.random_bool(0.12))
            .then(|| rng.random_range(1..200) * 500_000);
        let recovered = match (to_recover, settled) {
            (Some(a), Some(_)) => Some(a * rng.random_range(0..=10) / 10),
            _ => None,
        };
        let related = previous.clone();
        if let Some(n) = &name {
            let entry = (Some(n.clone()), id_number.clone(), id.clone());
            let r = &mut self.recent[p];
            if r.len() >= 500 {
                let i = rng.random_range(0..r.len());
                r[i] = entry;
            } else {
                r.push(entry);
            }
        }
        let complexity_known = (rng.random_bool(0.005) && complexity != "normal")
            .then(|| received + Duration::days(rng.random_range(35..100)));
        Case {
            id,
            unit: unit_rc,
            received,
            channel,
            case_type,
            round,
            complexity,
            complexity_known,
            remote,
            multi_party: rng.random_bool(0.03),
            name,
            id_number,
            content: format!("Phản ánh về việc {topic}"),
            result: settled.map(|_| {
                if sloppy {
                    String::new()
                } else {
                    format!("Đã xem xét và trả lời về việc {topic}")
                }
            }),
            attachments: if sloppy { 0 } else { rng.random_range(1..6) },
            to_recover,
            recovered,
            related,
            settled,
            events,
        }
    }
}

/// When a record is entered in the national database, by profile.
fn entry_time(
    cal: &Calendar,
    t: NaiveDateTime,
    b: &Behaviour,
    rng: &mut ChaCha8Rng,
) -> Option<NaiveDateTime> {
    if rng.random_bool(b.entry_missing) {
        return None;
    }
    let days = if rng.random_bool(b.entry_on_time) {
        rng.random_range(0..=1)
    } else {
        rng.random_range(2..25)
    };
    let day = cal.wd_add(t.date(), days);
    Some(office_time(day, rng).max(t + Duration::minutes(10)))
}

// ---------------------------------------------------------------------------
// Writing

struct Rows {
    columns: Vec<Col>,
}

enum Col {
    Text(StringBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
}

impl Rows {
    fn new(table: Table) -> Rows {
        use crate::reference::contract::ColType::*;
        Rows {
            columns: table
                .columns()
                .iter()
                .map(|c| match c.ty {
                    Text => Col::Text(StringBuilder::new()),
                    Date => Col::Date(Date32Builder::new()),
                    Timestamp => Col::Ts(TimestampMicrosecondBuilder::new()),
                    Bool => Col::Bool(BooleanBuilder::new()),
                    Int32 => Col::I32(Int32Builder::new()),
                    Int64 => Col::I64(Int64Builder::new()),
                })
                .collect(),
        }
    }

    fn text(&mut self, i: usize, v: Option<&str>) {
        if let Col::Text(b) = &mut self.columns[i] {
            b.append_option(v);
        }
    }
    fn date(&mut self, i: usize, v: Option<NaiveDate>) {
        if let Col::Date(b) = &mut self.columns[i] {
            b.append_option(v.map(day_number));
        }
    }
    fn ts(&mut self, i: usize, v: Option<NaiveDateTime>) {
        if let Col::Ts(b) = &mut self.columns[i] {
            b.append_option(v.map(|t| t.and_utc().timestamp_micros()));
        }
    }
    fn boolean(&mut self, i: usize, v: bool) {
        if let Col::Bool(b) = &mut self.columns[i] {
            b.append_value(v);
        }
    }
    fn int(&mut self, i: usize, v: Option<i64>) {
        match &mut self.columns[i] {
            Col::I32(b) => b.append_option(v.map(|v| v as i32)),
            Col::I64(b) => b.append_option(v),
            _ => {}
        }
    }

    fn finish(self, table: Table) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Text(mut b) => Arc::new(b.finish()),
                    Col::Date(mut b) => Arc::new(b.finish()),
                    Col::Ts(mut b) => Arc::new(b.finish()),
                    Col::Bool(mut b) => Arc::new(b.finish()),
                    Col::I32(mut b) => Arc::new(b.finish()),
                    Col::I64(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(table.extract_schema(), arrays)?)
    }
}

fn write_table(dir: &Path, table: Table, batch: &RecordBatch, parquet: bool) -> Result<()> {
    if parquet {
        crate::store::write_parquet(
            &dir.join(format!("{}.parquet", table.name())),
            table.extract_schema(),
            std::slice::from_ref(batch),
        )
    } else {
        let file = std::fs::File::create(dir.join(format!("{}.csv", table.name())))?;
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_date_format("%Y-%m-%d".to_string())
            .with_timestamp_format("%Y-%m-%d %H:%M:%S".to_string())
            .with_null(String::new())
            .build(std::io::BufWriter::new(file));
        w.write(batch)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The generator

fn month_bounds(y: i32, m: u32) -> (NaiveDate, NaiveDate) {
    let start = d(y, m, 1);
    let next = if m == 12 {
        d(y + 1, 1, 1)
    } else {
        d(y, m + 1, 1)
    };
    (start, next - Duration::days(1))
}

/// Tết's first day per year, for the seasonal dip.
fn tet_month(year: i32) -> u32 {
    // From reference/lunar_anchors.csv: January in 2023, 2025, 2028, 2030.
    match year {
        2023 | 2025 | 2028 | 2030 => 1,
        _ => 2,
    }
}

pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    if opts.scale.is_nan() || opts.scale <= 0.0 {
        bail!("the scale must be positive");
    }
    let reference = Reference::bundled();
    let cal = Calendar::bundled();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let profiles = assign_profiles(&reference, &mut rng);
    let (fy, fm) = opts.first_month;
    let (ly, lm) = opts.last_month;
    let months: Vec<(NaiveDate, NaiveDate)> = {
        let mut v = Vec::new();
        let (mut y, mut m) = (fy, fm);
        while (y, m) <= (ly, lm) {
            v.push(month_bounds(y, m));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        v
    };
    if months.is_empty() {
        bail!("--from is after --to");
    }
    let last_day = months.last().expect("months").1;
    let units = build_units(&reference, &profiles, opts.scale);
    let officials = build_officials(&units, &profiles, last_day, &mut rng);
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    std::fs::write(
        opts.out.join("profiles.json"),
        serde_json::to_string_pretty(&profiles)?,
    )?;

    let unit_rcs: Vec<Rc<str>> = units.iter().map(|u| Rc::from(u.code.as_str())).collect();
    let total_weight: f64 = profiles.iter().map(|p| p.weight).sum();
    let mut maker = CaseMaker {
        cal: &cal,
        profiles: &profiles,
        next_event: 0,
        recent: vec![Vec::new(); profiles.len()],
    };
    // Cases still to be carried by a future extract, by month index.
    let mut pending: Vec<Vec<Rc<Case>>> = vec![Vec::new(); months.len() + 1];
    let mut summary = GenerateSummary::default();
    let mut next_case = 0u64;
    let mut inspections: Vec<Inspection> = Vec::new();
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(months.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} months {msg} [{elapsed}]",
            )
            .expect("valid template"),
        );
        b
    });

    for (mi, &(ms, me)) in months.iter().enumerate() {
        let window_start = if mi == 0 { ms } else { months[mi - 1].0 };
        let in_window = |t: NaiveDateTime| t.date() >= window_start && t.date() <= me;
        // Units valid this month that can receive cases.
        let open: Vec<usize> = units
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                u.province.is_some() && u.valid_from <= ms && u.valid_to.is_none_or(|t| t >= me)
            })
            .map(|(i, _)| i)
            .collect();

        // New cases of the month.
        let season = if ms.month() == tet_month(ms.year()) {
            0.6
        } else if ms.month() == tet_month(ms.year()) % 12 + 1 {
            1.3
        } else {
            1.0
        };
        let expected = CASES_PER_YEAR / 12.0 * opts.scale * season;
        let n_cases = (expected + rng.random_range(-0.5..0.5) * expected.sqrt())
            .round()
            .max(0.0) as usize;
        let unit_weights: Vec<f64> = open
            .iter()
            .map(|&i| {
                let p = units[i].province.expect("provincial");
                profiles[p].weight / total_weight
                    * if units[i].level == "province" {
                        2.0
                    } else {
                        1.0
                    }
            })
            .collect();
        let wsum: f64 = unit_weights.iter().sum();
        let mut cumulative = Vec::with_capacity(open.len());
        let mut acc = 0.0;
        for w in &unit_weights {
            acc += w / wsum;
            cumulative.push(acc);
        }
        for _ in 0..n_cases {
            let x: f64 = rng.random();
            let k = cumulative.partition_point(|c| *c < x).min(open.len() - 1);
            let ui = open[k];
            let day = if rng.random_bool(0.9) {
                working_day_in(&cal, ms, me, &mut rng)
            } else {
                random_day(ms, me, &mut rng)
            };
            next_case += 1;
            let id = format!("HS{:09}", next_case);
            let case = Rc::new(maker.make(id, &units[ui], unit_rcs[ui].clone(), day, &mut rng));
            summary.cases += 1;
            // The months whose extracts must carry the case: when it was
            // received, when anything happened or was entered, and the
            // month after each (the overlap).
            let mut carry: BTreeSet<usize> = BTreeSet::new();
            let month_of = |t: NaiveDateTime| {
                months
                    .iter()
                    .position(|(s, e)| t.date() >= *s && t.date() <= *e)
            };
            let mut mark = |t: NaiveDateTime| {
                if let Some(i) = month_of(t) {
                    carry.insert(i);
                    carry.insert(i + 1);
                }
            };
            mark(case.received);
            for e in &case.events {
                mark(e.at);
                if let Some(t) = e.entered {
                    mark(t);
                }
            }
            if let Some(t) = case.complexity_known {
                mark(t);
            }
            for i in carry.into_iter().filter(|i| *i >= mi && *i < months.len()) {
                pending[i].push(case.clone());
            }
        }

        // Inspections: a few each quarter, the worst provinces more often.
        if ms.month() % 3 == 1 {
            let mut keyed: Vec<((u8, u32), usize)> = (0..profiles.len())
                .map(|i| {
                    let bad = match profiles[i].behaviour.profile {
                        "worst" => 0,
                        "exemplary" => 3,
                        "average" => 2,
                        _ => 1,
                    };
                    ((bad, rng.random_range(0..1000)), i)
                })
                .collect();
            keyed.sort();
            let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
            for (k, &pi) in order.iter().take(7).enumerate() {
                let kind = match k {
                    0..=3 => "responsibility",
                    4 | 5 => "thematic",
                    _ => "ad_hoc",
                };
                if kind == "responsibility" && rng.random_bool(0.5) {
                    continue;
                }
                let start = working_day_in(&cal, ms, ms + Duration::days(27), &mut rng);
                let end = start + Duration::days(rng.random_range(20..60));
                let findings = match profiles[pi].behaviour.profile {
                    "exemplary" => rng.random_range(0..3),
                    "average" => rng.random_range(1..6),
                    _ => rng.random_range(4..15),
                };
                inspections.push((
                    format!("TT-{}-{:02}-{}", ms.year(), ms.month(), profiles[pi].code),
                    profiles[pi].code.clone(),
                    kind,
                    start,
                    Some(end),
                    findings,
                ));
            }
        }

        // The extract of this month.
        let date = me;
        let dir = opts.out.join(date.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("manifest.json"),
            format!(
                "{{\"extract_date\": \"{date}\", \"source\": \"vigil generate seed={} scale={}\"}}\n",
                opts.seed, opts.scale
            ),
        )?;
        let known = |t: Option<NaiveDateTime>| t.filter(|t| t.date() <= date);
        let parquet_for = |table: Table| match opts.format {
            OutputFormat::Csv => false,
            OutputFormat::Parquet => true,
            // Mostly Parquet, a quarter CSV: both paths exercised, small on disk.
            OutputFormat::Mixed => !(mi + table as usize).is_multiple_of(4),
        };
        let emit = |table: Table, rows: Rows, summary: &mut GenerateSummary| -> Result<()> {
            let batch = rows.finish(table)?;
            *summary.rows.entry(table.name().to_string()).or_default() += batch.num_rows() as u64;
            write_table(&dir, table, &batch, parquet_for(table))
        };

        let mut r = Rows::new(Table::Units);
        for u in units.iter().filter(|u| u.valid_from <= date) {
            r.text(0, Some(&u.code));
            r.text(1, Some(&u.name));
            r.text(2, Some(u.level));
            r.text(3, u.province_code.as_deref());
            r.date(4, Some(u.valid_from));
            r.date(5, u.valid_to);
        }
        emit(Table::Units, r, &mut summary)?;

        let mut r = Rows::new(Table::Officials);
        // Officials: in full in the first extract and every January, else
        // the assignments that changed in the window (with the overlap).
        let full = mi == 0 || ms.month() == 1;
        let touched = |a: &Assignment| {
            let day_in = |x: NaiveDate| x >= window_start && x <= me;
            day_in(a.from)
                || a.to.is_some_and(day_in)
                || a.granted.is_some_and(|g| day_in(g.date()))
                || a.revoked.is_some_and(|r| day_in(r.date()))
        };
        for a in officials
            .iter()
            .filter(|a| a.from <= date && (full || touched(a)))
        {
            r.text(0, Some(&a.id));
            r.text(1, Some(&a.official));
            r.text(2, Some(&a.unit));
            r.text(3, Some(a.duty));
            r.date(4, Some(a.from));
            // A planned end is known in advance only at the merger.
            let planned =
                a.to.filter(|t| *t <= date || *t == merger_date() - Duration::days(1));
            r.date(5, planned);
            let granted = known(a.granted);
            r.text(6, granted.and(a.account.as_deref()));
            r.ts(7, granted);
            r.ts(8, granted.and(known(a.revoked)));
            let login = granted.map(|g| {
                let end =
                    a.to.map(|t| at(t, 16, 0))
                        .unwrap_or(at(date, 16, 0))
                        .min(at(date, 8, 0));
                end.max(g)
            });
            r.ts(9, login);
        }
        emit(Table::Officials, r, &mut summary)?;

        // Reception sessions of this month and (again) the one before.
        let mut r = Rows::new(Table::ReceptionSessions);
        let lo = mi.saturating_sub(1);
        for (k, &(s, e)) in months.iter().enumerate().take(mi + 1).skip(lo) {
            // Re-seed per month so the repeated month is identical.
            let mut srng = ChaCha8Rng::seed_from_u64(
                opts.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            for u in units.iter().filter(|u| {
                u.province.is_some() && u.valid_from <= s && u.valid_to.is_none_or(|t| t >= e)
            }) {
                let b = &profiles[u.province.expect("provincial")].behaviour;
                let mut sessions: Vec<(&'static str, &'static str)> = Vec::new();
                if srng.random_bool(b.head_rate) {
                    sessions.push(("periodic", "head"));
                } else {
                    sessions.push((
                        "periodic",
                        if srng.random_bool(0.6) {
                            "deputy"
                        } else {
                            "officer"
                        },
                    ));
                }
                if srng.random_bool(0.5) {
                    sessions.push(("periodic", "officer"));
                }
                if srng.random_bool(0.25) {
                    sessions.push((
                        "irregular",
                        if srng.random_bool(0.4) {
                            "head"
                        } else {
                            "deputy"
                        },
                    ));
                }
                for (n, (kind, host)) in sessions.into_iter().enumerate() {
                    let day = working_day_in(&cal, s, e, &mut srng);
                    let entered = entry_time(&cal, at(day, 10, 0), b, &mut srng);
                    r.text(0, Some(&format!("TD-{}-{}-{n}", u.code, s.format("%Y%m"))));
                    r.text(1, Some(&u.code));
                    r.date(2, Some(day));
                    r.text(3, Some(kind));
                    r.text(4, Some(host));
                    r.text(5, Some(&format!("OFF-{}-{host}", u.code)));
                    r.int(6, Some(srng.random_range(0..40)));
                    r.int(7, Some(srng.random_range(0..6)));
                    r.ts(8, known(entered));
                }
            }
        }
        emit(Table::ReceptionSessions, r, &mut summary)?;

        // Cases and events carried by this extract, as known at its date.
        let carried = std::mem::take(&mut pending[mi]);
        let mut rc = Rows::new(Table::Cases);
        let mut re = Rows::new(Table::CaseEvents);
        for c in &carried {
            let settled = known(c.settled);
            let changed = in_window(c.received)
                || settled.is_some_and(in_window)
                || c.complexity_known.is_some_and(in_window);
            if changed {
                rc.text(0, Some(&c.id));
                rc.text(1, Some(&c.unit));
                rc.ts(2, Some(c.received));
                rc.text(3, Some(c.channel));
                rc.text(4, Some(c.case_type));
                rc.int(5, c.round.map(i64::from));
                let complexity = match c.complexity_known {
                    Some(t) if t.date() > date => "normal",
                    _ => c.complexity,
                };
                rc.text(6, Some(complexity));
                rc.boolean(7, c.remote);
                rc.boolean(8, c.multi_party);
                rc.text(9, c.name.as_deref());
                rc.text(10, c.id_number.as_deref());
                rc.text(11, Some(&c.content));
                rc.text(12, settled.and(c.result.as_deref()));
                rc.int(13, Some(c.attachments as i64));
                rc.int(14, c.to_recover);
                rc.int(15, settled.and(c.recovered));
                rc.text(16, c.related.as_deref());
            }
            for e in &c.events {
                if e.at.date() > date {
                    continue;
                }
                let entered = known(e.entered);
                if !(in_window(e.at) || entered.is_some_and(in_window)) {
                    continue;
                }
                re.text(0, Some(&e.id));
                re.text(1, Some(&c.id));
                re.text(2, Some(e.kind));
                re.ts(3, Some(e.at));
                re.ts(4, entered);
            }
        }
        drop(carried);
        emit(Table::Cases, rc, &mut summary)?;
        emit(Table::CaseEvents, re, &mut summary)?;

        let mut r = Rows::new(Table::Inspections);
        for (id, code, kind, start, end, findings) in inspections.iter().filter(|i| i.3 <= date) {
            r.text(0, Some(id));
            r.text(1, Some(code));
            r.text(2, Some(kind));
            r.date(3, Some(*start));
            r.date(4, *end);
            r.int(5, Some(*findings as i64));
        }
        emit(Table::Inspections, r, &mut summary)?;
        summary.extracts += 1;
        if let Some(b) = &bar {
            b.set_message(format!("{} cases", summary.cases));
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, seed: u64) -> GenerateSummary {
        generate(&GenerateOptions {
            out: dir.to_path_buf(),
            seed,
            scale: 0.02,
            first_month: (2025, 5),
            last_month: (2025, 8),
            format: OutputFormat::Mixed,
            progress: false,
        })
        .unwrap()
    }

    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                for f in std::fs::read_dir(&p).unwrap() {
                    let f = f.unwrap().path();
                    out.insert(
                        f.display()
                            .to_string()
                            .replace(&dir.display().to_string(), ""),
                        std::fs::read(&f).unwrap(),
                    );
                }
            }
        }
        out
    }

    #[test]
    fn deterministic_for_a_seed_and_crossing_the_merger() {
        let tmp = tempfile::tempdir().unwrap();
        let a = run(&tmp.path().join("a"), 7);
        run(&tmp.path().join("b"), 7);
        run(&tmp.path().join("c"), 8);
        let fa = files(&tmp.path().join("a"));
        assert_eq!(fa, files(&tmp.path().join("b")));
        assert_ne!(fa, files(&tmp.path().join("c")));
        assert_eq!(a.extracts, 4);
        assert!(a.cases > 50, "{a:?}");
        assert!(fa.keys().any(|k| k.ends_with(".csv")));
        assert!(fa.keys().any(|k| k.ends_with(".parquet")));
        assert!(
            fa.keys()
                .any(|k| k.contains("2025-08-31") && k.ends_with("manifest.json"))
        );
    }
}
