//! Data-quality feedback to the provinces.
//!
//! For one stored extract, this module owns what each province is told
//! about the data it sent: its quarantined rows (file, line, column, what
//! was wrong in plain words and the contract rule broken), its records
//! entered late in the national database (METHODOLOGY e2, Decree 55/2022
//! Art. 8), the tables the extract lacked, and how the extract compares
//! with the province's previous ones. Rows that cannot be attributed to a
//! province go to a national report. The counting is SQL in
//! `queries/feedback/`; this module reads it, words it ([`words`]) and
//! writes the page's model and the files ([`files`]).
//!
//! Privacy (Law on Denunciations 2018, Art. 47): a report carries
//! positions, reason kinds, contract names and codes that pass
//! [`safe_code`], never the stored reason text nor any cell of a
//! quarantined row, so no requester identity can reach a province.

pub mod files;
pub mod words;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use crate::present::i18n::Lang;
use crate::present::table::{Cell, Table};
use crate::reference::contract::Table as ExtractTable;
use crate::score::scoring::Engine;
use crate::store::{Catalog, ExtractEntry};
use words::pick;

/// How many earlier extracts a report compares with (their average).
pub const PREVIOUS_EXTRACTS: usize = 3;

const QUARANTINE_ROWS: &str = include_str!("../../queries/feedback/quarantine_rows.sql");
const ROWS_ACCEPTED: &str = include_str!("../../queries/feedback/rows_accepted.sql");
const LATE_ENTRIES: &str = include_str!("../../queries/feedback/late_entries.sql");

/// Whom a report is for: a province, or the national report of what
/// cannot be attributed to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Province(String),
    National,
}

impl Scope {
    /// `None`, empty or `national` is the national report.
    pub fn parse(code: Option<&str>) -> Scope {
        match code.map(str::trim).filter(|c| !c.is_empty()) {
            None | Some("national") => Scope::National,
            Some(c) => Scope::Province(c.to_string()),
        }
    }

    fn holds(&self, province: Option<&str>) -> bool {
        match self {
            Scope::Province(c) => province == Some(c.as_str()),
            Scope::National => province.is_none(),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Scope::Province(c) => Some(c),
            Scope::National => None,
        }
    }
}

/// One quarantined row as a report may show it.
#[derive(Debug, Clone)]
struct Quarantined {
    extract_date: NaiveDate,
    province: Option<String>,
    table: String,
    file: String,
    line: i64,
    column: Option<String>,
    kind: String,
    key: Option<String>,
}

/// One record entered late (or not entered and already late).
#[derive(Debug, Clone)]
struct Late {
    extract_date: NaiveDate,
    province: Option<String>,
    kind: String,
    id: Option<String>,
    unit: Option<String>,
    occurred: Cell,
    entered: Cell,
    working_days: i64,
    status: String,
}

/// Rows sent, quarantined and entered late in one extract.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub sent: i64,
    pub quarantined: i64,
    pub late: i64,
}

impl Counts {
    pub fn share(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.quarantined as f64 / self.sent as f64)
    }
}

/// Everything the reports of one extract are made from, for every province.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub extract_date: NaiveDate,
    /// The store fingerprint of the data up to this extract
    /// ([`crate::score::scoring::Engine::provenance`]).
    pub fingerprint: String,
    /// The extracts before it compared with, newest first.
    pub previous: Vec<NaiveDate>,
    /// Contract tables the extract did not contain.
    pub missing_tables: Vec<ExtractTable>,
    /// The rules file's allowed working days for data entry.
    pub max_working_days: i64,
    quarantined: Vec<Quarantined>,
    late: Vec<Late>,
    accepted: BTreeMap<(NaiveDate, Option<String>), i64>,
}

/// A code shown in a report ([`crate::reference::contract::looks_like_code`]);
/// anything else (a name, a bare number such as an id card or a phone
/// number, free text typed into a key) is withheld.
pub fn safe_code(s: &str) -> Option<&str> {
    crate::reference::contract::looks_like_code(s).then_some(s)
}

fn date_param(d: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some(crate::reference::dates::day_number(d)))
}

async fn run(
    ctx: &SessionContext,
    sql: &str,
    since: NaiveDate,
    extract: NaiveDate,
) -> Result<Table> {
    let df = ctx.sql(sql).await?.with_param_values(vec![
        ("since", date_param(since)),
        ("extract", date_param(extract)),
    ])?;
    let schema = df.schema().as_arrow().clone();
    Table::from_batches(&schema, &df.collect().await?)
}

fn text(t: &Table, row: &[Cell], name: &str) -> Option<String> {
    t.get(row, name).as_str().map(str::to_string)
}

fn int(t: &Table, row: &[Cell], name: &str) -> i64 {
    t.get(row, name).as_f64().unwrap_or(0.0) as i64
}

fn date(t: &Table, row: &[Cell], name: &str) -> Result<NaiveDate> {
    match t.get(row, name) {
        Cell::Date(d) => Ok(*d),
        other => Err(anyhow!("{name}: expected a date, got {other:?}")),
    }
}

fn quarantined(t: &Table) -> Result<Vec<Quarantined>> {
    t.rows
        .iter()
        .map(|r| {
            Ok(Quarantined {
                extract_date: date(t, r, "extract_date")?,
                province: text(t, r, "province_code"),
                table: text(t, r, "table_name").unwrap_or_default(),
                file: text(t, r, "file").unwrap_or_default(),
                line: int(t, r, "line"),
                column: text(t, r, "column_name"),
                kind: text(t, r, "reason_kind").unwrap_or_default(),
                key: text(t, r, "primary_key").filter(|k| safe_code(k).is_some()),
            })
        })
        .collect()
}

fn late(t: &Table) -> Result<Vec<Late>> {
    t.rows
        .iter()
        .map(|r| {
            Ok(Late {
                extract_date: date(t, r, "extract_date")?,
                province: text(t, r, "province_code"),
                kind: text(t, r, "record_kind").unwrap_or_default(),
                id: text(t, r, "record_id").filter(|k| safe_code(k).is_some()),
                unit: text(t, r, "unit_code").filter(|k| safe_code(k).is_some()),
                occurred: t.get(r, "occurred_date").clone(),
                entered: t.get(r, "entered_date").clone(),
                working_days: int(t, r, "working_days"),
                status: text(t, r, "status").unwrap_or_default(),
            })
        })
        .collect()
}

fn accepted(t: &Table) -> Result<BTreeMap<(NaiveDate, Option<String>), i64>> {
    t.rows
        .iter()
        .map(|r| {
            Ok((
                (date(t, r, "extract_date")?, text(t, r, "province_code")),
                int(t, r, "rows_accepted"),
            ))
        })
        .collect()
}

/// The catalog entry of the extract dated `extract`.
fn stored_extract(cat: &Catalog, extract: NaiveDate) -> Result<&ExtractEntry> {
    cat.extracts
        .iter()
        .find(|e| e.extract_date == extract)
        .with_context(|| {
            let dates: Vec<String> = cat
                .extracts
                .iter()
                .map(|e| e.extract_date.to_string())
                .collect();
            format!(
                "the store holds no extract dated {extract} (its extracts: {})",
                if dates.is_empty() {
                    "none".into()
                } else {
                    dates.join(", ")
                }
            )
        })
}

/// The extracts before `extract` a report compares with, newest first.
fn previous_extracts(cat: &Catalog, extract: NaiveDate) -> Vec<NaiveDate> {
    cat.extracts
        .iter()
        .map(|e| e.extract_date)
        .filter(|d| *d < extract)
        .rev()
        .take(PREVIOUS_EXTRACTS)
        .collect()
}

impl Feedback {
    /// Reads the feedback of the stored extract dated `extract`.
    pub async fn load(engine: &Engine, extract: NaiveDate) -> Result<Feedback> {
        let cat = engine.store.catalog()?;
        let entry = stored_extract(&cat, extract)?;
        let fingerprint = engine.provenance(&cat, extract).store_fingerprint;
        let missing_tables = ExtractTable::ALL
            .into_iter()
            .filter(|t| !entry.files.contains_key(t.name()))
            .collect();
        let previous = previous_extracts(&cat, extract);
        let since = previous.last().copied().unwrap_or(extract);
        let (ctx, _) = engine.context(Some(extract)).await?;
        Ok(Feedback {
            extract_date: extract,
            fingerprint,
            previous,
            missing_tables,
            max_working_days: engine.rules.data_entry.entry_max_working_days.value,
            quarantined: quarantined(&run(&ctx, QUARANTINE_ROWS, since, extract).await?)?,
            late: late(&run(&ctx, LATE_ENTRIES, since, extract).await?)?,
            accepted: accepted(&run(&ctx, ROWS_ACCEPTED, since, extract).await?)?,
        })
    }

    /// Counts of one extract for a province; the national report counts
    /// the whole extract.
    pub fn counts(&self, date: NaiveDate, scope: &Scope) -> Counts {
        let whole = *scope == Scope::National;
        let mine = |p: &Option<String>| whole || scope.holds(p.as_deref());
        let quarantined = self
            .quarantined
            .iter()
            .filter(|q| q.extract_date == date && mine(&q.province))
            .count() as i64;
        let accepted: i64 = self
            .accepted
            .iter()
            .filter(|((d, p), _)| *d == date && mine(p))
            .map(|(_, n)| n)
            .sum();
        let late = self
            .late
            .iter()
            .filter(|l| l.extract_date == date && mine(&l.province))
            .count() as i64;
        Counts {
            sent: accepted + quarantined,
            quarantined,
            late,
        }
    }

    /// How many of this extract's quarantined rows a scope's report lists.
    pub fn quarantined_rows(&self, scope: &Scope) -> usize {
        self.quarantined
            .iter()
            .filter(|q| q.extract_date == self.extract_date && scope.holds(q.province.as_deref()))
            .count()
    }
}

// ---------------------------------------------------------------------------
// The report in one language

/// A whole number as an integer cell, anything else as a float.
fn number(v: f64) -> Cell {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Cell::Int(v as i64)
    } else {
        Cell::Float(v)
    }
}

/// One part of a report: a titled table.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub note: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// What to say when there are no rows.
    pub empty: String,
}

/// A report for one scope in one language: what the page shows and the
/// files hold.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    /// The province's code and name, or the national report's name.
    pub recipient: String,
    #[serde(with = "crate::reference::dates::iso")]
    pub extract_date: NaiveDate,
    pub fingerprint: String,
    /// Label and value lines heading the report.
    pub facts: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

/// The code and name a report is addressed to.
pub fn recipient(lang: Lang, engine: &Engine, scope: &Scope) -> Result<String> {
    match scope {
        Scope::National => Ok(pick(
            lang,
            "Toàn quốc — dòng không xác định được tỉnh",
            "National — rows not attributable to a province",
        )),
        Scope::Province(code) => {
            let p = engine
                .reference
                .province(code)
                .with_context(|| format!("no province with code '{code}'"))?;
            let name = if lang == Lang::Vi {
                &p.name_vi
            } else {
                &p.name_en
            };
            Ok(format!("{code} — {name}"))
        }
    }
}

impl Feedback {
    /// The report of one scope in one language.
    pub fn report(&self, lang: Lang, engine: &Engine, scope: &Scope) -> Result<Report> {
        let recipient = recipient(lang, engine, scope)?;
        let facts = vec![
            (pick(lang, "Gửi", "For"), recipient.clone()),
            (
                pick(lang, "Bản trích xuất ngày", "Extract dated"),
                self.extract_date.to_string(),
            ),
            (
                pick(lang, "Dấu vân tay dữ liệu (kho)", "Store fingerprint"),
                self.fingerprint.clone(),
            ),
        ];
        Ok(Report {
            title: pick(lang, "Phản hồi chất lượng dữ liệu", "Data-quality feedback"),
            recipient,
            extract_date: self.extract_date,
            fingerprint: self.fingerprint.clone(),
            facts,
            sections: vec![
                self.quarantine_section(lang, scope),
                self.late_section(lang, scope),
                self.missing_section(lang),
                self.comparison_section(lang, scope),
            ],
        })
    }

    fn quarantine_section(&self, lang: Lang, scope: &Scope) -> Section {
        let rows = self
            .quarantined
            .iter()
            .filter(|q| q.extract_date == self.extract_date && scope.holds(q.province.as_deref()))
            .map(|q| {
                let (what, rule) = words::reason(lang, &q.table, q.column.as_deref(), &q.kind);
                let key = ExtractTable::from_name(&q.table).map(|t| t.primary_key());
                vec![
                    Cell::Text(q.file.clone()),
                    Cell::Int(q.line),
                    q.column.clone().map_or(Cell::Null, Cell::Text),
                    match (key, &q.key) {
                        (Some(k), Some(v)) => Cell::Text(format!("{k} {v}")),
                        _ => Cell::Null,
                    },
                    Cell::Text(what),
                    Cell::Text(rule),
                ]
            })
            .collect();
        let (title, note) = match scope {
            Scope::Province(_) => (
                pick(lang, "Dòng bị cách ly", "Quarantined rows"),
                pick(
                    lang,
                    "Các dòng này không được lưu. Xin sửa và gửi lại trong bản trích xuất sau. Chỉ ghi vị trí, lý do và mã bản ghi, không ghi nội dung của dòng.",
                    "These rows were not stored. Please correct them and send them again in a later extract. Only the position, the reason and the record's code are given, never the row's content.",
                ),
            ),
            Scope::National => (
                pick(
                    lang,
                    "Dòng bị cách ly không xác định được tỉnh",
                    "Quarantined rows not attributable to a province",
                ),
                pick(
                    lang,
                    "Dòng không có đơn vị, vụ việc hay mã tỉnh đã biết (hoặc thuộc đơn vị trung ương), nên không gửi được cho tỉnh nào.",
                    "Rows with no known unit, case or province code (or of a central unit), so no province can be sent them.",
                ),
            ),
        };
        Section {
            id: "quarantined",
            title,
            note,
            columns: vec![
                pick(lang, "Tệp", "File"),
                pick(lang, "Dòng", "Line"),
                pick(lang, "Cột", "Column"),
                pick(lang, "Mã bản ghi", "Record"),
                pick(lang, "Lỗi", "What was wrong"),
                pick(lang, "Quy tắc bị vi phạm", "Rule broken"),
            ],
            rows,
            empty: pick(
                lang,
                "Không có dòng nào bị cách ly.",
                "No row was quarantined.",
            ),
        }
    }

    fn late_section(&self, lang: Lang, scope: &Scope) -> Section {
        let rows = self
            .late
            .iter()
            .filter(|l| l.extract_date == self.extract_date && scope.holds(l.province.as_deref()))
            .map(|l| {
                vec![
                    Cell::Text(words::record_kind(lang, &l.kind)),
                    l.id.clone().map_or(Cell::Null, Cell::Text),
                    l.unit.clone().map_or(Cell::Null, Cell::Text),
                    l.occurred.clone(),
                    l.entered.clone(),
                    Cell::Int(l.working_days),
                    Cell::Text(words::entry_status(lang, &l.status)),
                ]
            })
            .collect();
        let n = self.max_working_days.to_string();
        Section {
            id: "late",
            title: pick(
                lang,
                "Bản ghi nhập muộn vào Cơ sở dữ liệu quốc gia",
                "Records entered late in the national database",
            ),
            note: pick(
                lang,
                "Buổi tiếp công dân và các bước thụ lý, gia hạn, chuyển đơn, giải quyết xong phải được nhập trong không quá {n} ngày làm việc sau ngày phát sinh (Nghị định 55/2022/NĐ-CP, Điều 8; chỉ số e2 của phương pháp). Bản ghi chưa nhập được tính đến ngày trích xuất.",
                "Reception sessions and the acceptance, extension, transfer and settlement of cases must be entered within {n} working days of the day they occurred (Decree 55/2022, Art. 8; indicator e2 of the methodology). A record not entered is counted to the extract date.",
            )
            .replace("{n}", &n),
            columns: vec![
                pick(lang, "Loại bản ghi", "Record kind"),
                pick(lang, "Mã bản ghi", "Record"),
                pick(lang, "Đơn vị", "Unit"),
                pick(lang, "Ngày phát sinh", "Occurred"),
                pick(lang, "Ngày nhập", "Entered"),
                pick(lang, "Số ngày làm việc", "Working days"),
                pick(lang, "Tình trạng", "Status"),
            ],
            rows,
            empty: pick(
                lang,
                "Không có bản ghi nào nhập muộn.",
                "No record was entered late.",
            ),
        }
    }

    fn missing_section(&self, lang: Lang) -> Section {
        let rows = self
            .missing_tables
            .iter()
            .map(|t| {
                vec![
                    Cell::Text(t.name().to_string()),
                    Cell::Text(format!("{0}.csv | {0}.parquet", t.name())),
                ]
            })
            .collect();
        Section {
            id: "missing_tables",
            title: pick(
                lang,
                "Bảng thiếu trong bản trích xuất",
                "Tables missing from the extract",
            ),
            note: pick(
                lang,
                "Hợp đồng dữ liệu, mục 3: bản trích xuất có 6 bảng; bảng thiếu không đem lại dữ liệu mới nào.",
                "Data contract, section 3: an extract has six tables; a missing table brings nothing new.",
            ),
            columns: vec![
                pick(lang, "Bảng", "Table"),
                pick(lang, "Tệp mong đợi", "Expected file"),
            ],
            rows,
            empty: pick(
                lang,
                "Bản trích xuất có đủ 6 bảng.",
                "The extract has all six tables.",
            ),
        }
    }

    /// Each measure: this extract, the previous one, the average of the
    /// previous ones (rounded to 2 decimals).
    fn comparison_rows(&self, lang: Lang, scope: &Scope) -> Vec<Vec<Cell>> {
        let now = self.counts(self.extract_date, scope);
        let before: Vec<Counts> = self
            .previous
            .iter()
            .map(|d| self.counts(*d, scope))
            .collect();
        let line = |label: String, f: &dyn Fn(&Counts) -> Option<f64>| -> Vec<Cell> {
            let cell = |c: &Counts| f(c).map_or(Cell::Null, number);
            let v: Vec<f64> = before.iter().filter_map(f).collect();
            let avg = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            vec![
                Cell::Text(label),
                cell(&now),
                before.first().map_or(Cell::Null, cell),
                avg.map_or(Cell::Null, |a| number((a * 100.0).round() / 100.0)),
            ]
        };
        let pct = |c: &Counts| c.share().map(|s| (s * 10000.0).round() / 100.0);
        vec![
            line(pick(lang, "Số dòng đã gửi", "Rows sent"), &|c| {
                Some(c.sent as f64)
            }),
            line(
                pick(lang, "Số dòng bị cách ly", "Rows quarantined"),
                &|c| Some(c.quarantined as f64),
            ),
            line(
                pick(lang, "Tỷ lệ bị cách ly (%)", "Share quarantined (%)"),
                &pct,
            ),
            line(
                pick(lang, "Số bản ghi nhập muộn", "Records entered late"),
                &|c| Some(c.late as f64),
            ),
        ]
    }

    fn comparison_section(&self, lang: Lang, scope: &Scope) -> Section {
        let rows = self.comparison_rows(lang, scope);
        let prev = self
            .previous
            .first()
            .map_or_else(|| "—".to_string(), |d| d.to_string());
        Section {
            id: "comparison",
            title: pick(
                lang,
                "So sánh với các bản trích xuất trước",
                "Compared with the previous extracts",
            ),
            note: match scope {
                Scope::Province(_) => pick(
                    lang,
                    "Dòng đã gửi gồm dòng được lưu và dòng bị cách ly của tỉnh.",
                    "Rows sent are the province's stored and quarantined rows.",
                ),
                Scope::National => pick(
                    lang,
                    "Toàn bộ bản trích xuất, mọi tỉnh.",
                    "The whole extract, every province.",
                ),
            },
            columns: vec![
                pick(lang, "Chỉ tiêu", "Measure"),
                format!(
                    "{} {}",
                    pick(lang, "Bản này", "This extract"),
                    self.extract_date
                ),
                format!("{} {prev}", pick(lang, "Bản trước", "Previous")),
                pick(
                    lang,
                    "Trung bình {n} bản trước",
                    "Average of the {n} previous",
                )
                .replace("{n}", &self.previous.len().to_string()),
            ],
            rows,
            empty: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Files for every province

/// Writes the reports of one extract into `out` (created if needed): one
/// workbook and one CSV for `province`, or for each of the 34 provinces and
/// the national report. Returns one line per report for the console.
pub async fn write_reports(
    engine: &Engine,
    extract: NaiveDate,
    province: Option<&str>,
    lang: Lang,
    out: &std::path::Path,
) -> Result<Vec<String>> {
    let scopes: Vec<Scope> = match province {
        Some(code) => {
            if !engine.reference.is_current(code) {
                anyhow::bail!("no province with code '{code}' (one of the 34 codes in force)");
            }
            vec![Scope::Province(code.to_string())]
        }
        None => engine
            .reference
            .provinces
            .iter()
            .map(|p| Scope::Province(p.code.clone()))
            .chain([Scope::National])
            .collect(),
    };
    let feedback = Feedback::load(engine, extract).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut lines = Vec::new();
    for scope in &scopes {
        let report = feedback.report(lang, engine, scope)?;
        let paths = files::write(out, lang, &engine.reference, &report, scope)?;
        let counts: Vec<String> = report
            .sections
            .iter()
            .take(2)
            .map(|s| format!("{} {}", s.rows.len(), s.id))
            .collect();
        for p in paths {
            lines.push(format!("{} ({})", p.display(), counts.join(", ")));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_are_shown_never_names_or_bare_numbers() {
        for code in ["DC-NOROUND", "DX-01", "C01-000123", "S_2026.11/4", "DX-HQ"] {
            assert_eq!(safe_code(code), Some(code));
        }
        for not in [
            "",
            "Nguyễn Văn A",
            "NguyenVanA",
            "079123456789",
            "0912 345 678",
            "+84912345678",
            "DC 1",
            &"A-".repeat(30),
        ] {
            assert_eq!(safe_code(not), None, "{not}");
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn q(date: &str, province: Option<&str>) -> Quarantined {
        Quarantined {
            extract_date: d(date),
            province: province.map(str::to_string),
            table: "cases".into(),
            file: "cases.csv".into(),
            line: 2,
            column: Some("round".into()),
            kind: "round".into(),
            key: None,
        }
    }

    #[test]
    fn an_extract_is_compared_with_the_previous_one_and_their_average() {
        let accepted = [
            (("2026-09-30", Some("24")), 10),
            (("2026-10-31", Some("24")), 19),
            (("2026-11-15", Some("24")), 8),
            (("2026-11-15", None), 5),
        ]
        .into_iter()
        .map(|((x, p), n)| ((d(x), p.map(str::to_string)), n))
        .collect();
        let fb = Feedback {
            extract_date: d("2026-11-15"),
            fingerprint: "0123456789ab".into(),
            previous: vec![d("2026-10-31"), d("2026-09-30")],
            missing_tables: vec![ExtractTable::Inspections],
            max_working_days: 1,
            quarantined: vec![
                q("2026-11-15", Some("24")),
                q("2026-11-15", Some("24")),
                q("2026-11-15", None),
                q("2026-10-31", Some("24")),
            ],
            late: Vec::new(),
            accepted,
        };
        let bn = Scope::Province("24".into());
        assert_eq!(
            fb.counts(d("2026-11-15"), &bn),
            Counts {
                sent: 10,
                quarantined: 2,
                late: 0
            }
        );
        assert_eq!(fb.counts(d("2026-11-15"), &Scope::National).sent, 16);
        assert_eq!(fb.quarantined_rows(&Scope::National), 1);
        let rows = fb.comparison_rows(Lang::En, &bn);
        assert_eq!(
            rows[0],
            [
                Cell::Text("Rows sent".into()),
                Cell::Int(10),
                Cell::Int(20),
                Cell::Int(15)
            ]
        );
        assert_eq!(rows[2][1], Cell::Int(20));
        assert_eq!(rows[2][2], Cell::Int(5));
        assert_eq!(rows[2][3], Cell::Float(2.5));
    }

    #[test]
    fn the_national_scope_is_the_default() {
        assert_eq!(Scope::parse(None), Scope::National);
        assert_eq!(Scope::parse(Some(" ")), Scope::National);
        assert_eq!(Scope::parse(Some("national")), Scope::National);
        assert_eq!(Scope::parse(Some("24")), Scope::Province("24".into()));
        assert!(Scope::National.holds(None));
        assert!(!Scope::Province("24".into()).holds(None));
    }
}
