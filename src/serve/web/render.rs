//! Turning query results into what a reader sees: formatted cells, the
//! league table's rows, tiles, reasons, charts, and CSV/XLSX files.

use anyhow::Result;
use serde::Serialize;

use super::data::{Cell, Table};
use crate::present::charts::{self, Chart, FunnelLabels, FunnelPoint, Series};
use crate::present::dashboards::{Kind, Panel};
use crate::present::i18n::{self, Lang, t, tf};

/// Columns holding shares 0..1, shown as percentages.
fn is_share(column: &str) -> bool {
    matches!(
        column,
        "value" | "rate" | "national_value" | "prev_value" | "lower_95" | "lower_998" | "mean"
    ) || crate::score::scoring::INDICATORS
        .iter()
        .any(|i| i.id == column)
}

/// A cell as a reader sees it in `column`.
pub fn display(lang: Lang, column: &str, cell: &Cell) -> String {
    match cell {
        Cell::Null => "–".to_string(),
        Cell::Bool(b) => match (column, b) {
            ("flag", true) => t(lang, "below_limit"),
            ("flag", false) => t(lang, "within_limits"),
            (_, true) => "✔".to_string(),
            (_, false) => String::new(),
        },
        Cell::Int(i) => i18n::number(lang, *i as f64, 0),
        Cell::Float(f) if is_share(column) => i18n::percent(lang, *f),
        Cell::Float(f) => i18n::number(lang, *f, 2),
        Cell::Date(d) => i18n::date(lang, *d),
        Cell::Text(s) => match column {
            "tier" => t(lang, &format!("tier_{s}")),
            "indicator" | "reason_kind" | "kind" | "stage" | "case_type" | "status"
                if i18n::has(s) =>
            {
                t(lang, s)
            }
            "period" => i18n::period(lang, s),
            _ => s.clone(),
        },
    }
}

#[derive(Debug, Serialize)]
pub struct CellView {
    pub text: String,
    /// Shown on hover (the few-cases note), empty for none.
    pub title: String,
    /// What the column sorts by (numbers as numbers).
    pub sort: String,
    pub href: Option<String>,
    pub numeric: bool,
}

#[derive(Debug, Serialize)]
pub struct TableView {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<CellView>>,
}

fn sort_key(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => format!("{f}"),
        other => other.plain(),
    }
}

/// A plain table: the panel's columns (all when it names none), province
/// codes and names linking to the province page.
pub fn table_view(
    lang: Lang,
    columns: &[String],
    table: &Table,
    province_href: &dyn Fn(&str) -> String,
) -> TableView {
    table_view_marked(lang, columns, table, province_href, None)
}

/// [`table_view`], and where a row has `numerator` and `denominator`, its
/// `value` marked "few cases" below the rules' threshold, with the 95 %
/// Wilson interval on hover.
pub fn table_view_marked(
    lang: Lang,
    columns: &[String],
    table: &Table,
    province_href: &dyn Fn(&str) -> String,
    rules: Option<&crate::reference::rules::Rules>,
) -> TableView {
    let cols: Vec<usize> = if columns.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        columns.iter().filter_map(|c| table.col(c)).collect()
    };
    let code_col = table.col("province_code");
    TableView {
        headers: cols.iter().map(|&i| t(lang, &table.columns[i])).collect(),
        rows: table
            .rows
            .iter()
            .map(|row| {
                cols.iter()
                    .map(|&i| {
                        let name = &table.columns[i];
                        let href = match (name.as_str(), code_col) {
                            ("province_code" | "province_name", Some(c)) => {
                                row[c].as_str().map(province_href)
                            }
                            _ => None,
                        };
                        let note = match (rules, name.as_str()) {
                            (Some(rules), "value") => {
                                let count = |c: &str| match table.get(row, c) {
                                    Cell::Int(i) => *i,
                                    _ => 0,
                                };
                                crate::score::scoring::few_cases_note(
                                    lang,
                                    rules.presentation.few_cases,
                                    count("numerator"),
                                    count("denominator"),
                                )
                            }
                            _ => String::new(),
                        };
                        let mut text = display(lang, name, &row[i]);
                        if !note.is_empty() {
                            text.push_str(" ⚑");
                        }
                        CellView {
                            text,
                            sort: sort_key(&row[i]),
                            href,
                            numeric: matches!(row[i], Cell::Int(_) | Cell::Float(_)),
                            title: note.trim_start_matches([' ', '—']).to_string(),
                        }
                    })
                    .collect()
            })
            .collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct LeagueRowView {
    pub rank: String,
    pub rank_sort: String,
    pub code: String,
    pub name: String,
    pub href: String,
    pub composite: String,
    pub composite_sort: String,
    pub tier: String,
    pub tier_label: String,
    pub areas: Vec<(String, String)>,
    pub interval_svg: String,
    pub interval_text: String,
    pub change: String,
    pub change_sort: String,
    pub change_class: String,
}

/// A small bar from rank_lo to rank_hi on a 1..n scale with a dot at the
/// rank: overlapping bars are provinces the data cannot tell apart.
fn interval_svg(rank: Option<i64>, lo: Option<i64>, hi: Option<i64>, n: i64) -> String {
    let (w, pad) = (140.0, 6.0);
    let x = |r: i64| pad + (r - 1) as f64 * (w - 2.0 * pad) / ((n - 1).max(1) as f64);
    let mut s = format!(
        r##"<svg class="interval" width="{w}" height="14" viewBox="0 0 {w} 14" role="img"><line x1="{pad}" y1="7" x2="{}" y2="7" stroke="#ddd" stroke-width="1"/>"##,
        w - pad
    );
    if let (Some(lo), Some(hi)) = (lo, hi) {
        s.push_str(&format!(
            r##"<rect x="{:.1}" y="3" width="{:.1}" height="8" rx="3" fill="#7aa6d6"/>"##,
            x(lo) - 3.0,
            (x(hi) - x(lo)) + 6.0
        ));
    }
    if let Some(r) = rank {
        s.push_str(&format!(
            r##"<circle cx="{:.1}" cy="7" r="3.5" fill="#123d6b"/>"##,
            x(r)
        ));
    }
    s.push_str("</svg>");
    s
}

pub fn league_rows(
    lang: Lang,
    table: &Table,
    province_href: &dyn Fn(&str) -> String,
) -> Vec<LeagueRowView> {
    let ranked = table
        .rows
        .iter()
        .filter(|r| table.get(r, "rank").as_f64().is_some())
        .count()
        .max(2) as i64;
    table
        .rows
        .iter()
        .map(|r| {
            let g = |c: &str| table.get(r, c);
            let int = |c: &str| g(c).as_f64().map(|v| v as i64);
            let code = g("province_code").plain();
            let composite = g("composite").as_f64();
            let prev = g("prev_composite").as_f64();
            let tier = g("tier").as_str().unwrap_or("insufficient").to_string();
            let (change, change_sort, change_class) = match (composite, prev) {
                (Some(c), Some(p)) => {
                    let d = crate::score::scoring::round2(c - p);
                    let (arrow, class) = if d > 0.0 {
                        ("▲", "up")
                    } else if d < 0.0 {
                        ("▼", "down")
                    } else {
                        ("▶", "same")
                    };
                    let sign = if d > 0.0 { "+" } else { "" };
                    (
                        format!("{arrow} {sign}{}", i18n::number(lang, d, 2)),
                        format!("{d}"),
                        class.to_string(),
                    )
                }
                _ => ("–".to_string(), String::new(), "none".to_string()),
            };
            let interval_text = match (int("rank_lo"), int("rank_hi")) {
                (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
                _ => "–".to_string(),
            };
            LeagueRowView {
                rank: int("rank")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "–".into()),
                rank_sort: int("rank").map(|v| v.to_string()).unwrap_or_default(),
                href: province_href(&code),
                code,
                name: g("province_name").plain(),
                composite: display(lang, "composite", g("composite")),
                composite_sort: composite.map(|c| c.to_string()).unwrap_or_default(),
                tier_label: t(lang, &format!("tier_{tier}")),
                tier,
                areas: ["reception_score", "deadlines_score", "data_entry_score"]
                    .iter()
                    .map(|c| (display(lang, c, g(c)), sort_key(g(c))))
                    .collect(),
                interval_svg: interval_svg(int("rank"), int("rank_lo"), int("rank_hi"), ranked),
                interval_text,
                change,
                change_sort,
                change_class,
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct TileView {
    pub code: String,
    pub name: String,
    pub tier: String,
    pub tier_label: String,
    pub composite: String,
    pub row: i64,
    pub col: i64,
    pub href: String,
}

pub fn tiles(lang: Lang, table: &Table, province_href: &dyn Fn(&str) -> String) -> Vec<TileView> {
    table
        .rows
        .iter()
        .map(|r| {
            let tier = table
                .get(r, "tier")
                .as_str()
                .unwrap_or("insufficient")
                .to_string();
            let code = table.get(r, "province_code").plain();
            TileView {
                href: province_href(&code),
                code,
                name: table.get(r, "province_name").plain(),
                tier_label: t(lang, &format!("tier_{tier}")),
                tier,
                composite: display(lang, "composite", table.get(r, "composite")),
                row: table.get(r, "tile_row").as_f64().unwrap_or(0.0) as i64 + 1,
                col: table.get(r, "tile_col").as_f64().unwrap_or(0.0) as i64 + 1,
            }
        })
        .collect()
}

/// Plain-language reasons for a province's tier: the composite and tier,
/// then the scored indicators that pull the composite down most (their gap
/// to the national value weighted by their weight in the composite), or,
/// when none is clearly below, the ones that lift it most; a reason
/// resting on few records says so.
pub fn reasons(lang: Lang, rules: &crate::reference::rules::Rules, table: &Table) -> Vec<String> {
    let Some(first) = table.rows.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let tier = table.get(first, "tier").as_str().unwrap_or("insufficient");
    match table.get(first, "composite").as_f64() {
        Some(c) => out.push(tf(
            lang,
            "reason_tier",
            &[
                ("composite", i18n::number(lang, c, 2)),
                ("tier", t(lang, &format!("tier_{tier}"))),
            ],
        )),
        None => out.push(t(lang, "reason_insufficient")),
    }
    let scored = |id: &str| {
        crate::score::scoring::INDICATORS
            .iter()
            .any(|i| i.id == id && i.area.is_some())
    };
    let mut gaps: Vec<(f64, &Vec<Cell>)> = Vec::new();
    let mut missing = Vec::new();
    for r in &table.rows {
        let id = table.get(r, "indicator").plain();
        if !scored(&id) {
            continue;
        }
        match (
            table.get(r, "value").as_f64(),
            table.get(r, "national_value").as_f64(),
        ) {
            // Points of the composite: gap × weight in its area / 3 areas.
            (Some(v), Some(n)) => gaps.push((100.0 * rules.weight(&id) * (v - n) / 3.0, r)),
            (None, _) => missing.push(id),
            _ => {}
        }
    }
    gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let phrase = |key: &str, r: &Vec<Cell>| {
        let count = |c: &str| match table.get(r, c) {
            Cell::Int(i) => *i,
            _ => 0,
        };
        let few = crate::score::scoring::few_cases_note(
            lang,
            rules.presentation.few_cases,
            count("numerator"),
            count("denominator"),
        );
        tf(
            lang,
            key,
            &[
                ("indicator", t(lang, &table.get(r, "indicator").plain())),
                ("value", display(lang, "value", table.get(r, "value"))),
                (
                    "national",
                    display(lang, "value", table.get(r, "national_value")),
                ),
                ("num", display(lang, "numerator", table.get(r, "numerator"))),
                (
                    "den",
                    display(lang, "denominator", table.get(r, "denominator")),
                ),
            ],
        ) + &few
    };
    // Half a point of the composite or more: a reason worth naming.
    let weak: Vec<String> = gaps
        .iter()
        .filter(|(g, _)| *g < -0.5)
        .take(4)
        .map(|(_, r)| phrase("reason_weak", r))
        .collect();
    if weak.is_empty() {
        out.extend(
            gaps.iter()
                .rev()
                .filter(|(g, _)| *g > 0.0)
                .take(2)
                .map(|(_, r)| phrase("reason_strong", r)),
        );
    } else {
        out.extend(weak);
    }
    for id in missing {
        out.push(tf(lang, "reason_no_data", &[("indicator", t(lang, &id))]));
    }
    out
}

/// A mark where a series of periods crosses 2025-07-01, when 63 provinces
/// became 34: values before it are of the merged provinces' lineage.
fn merger_marker(lang: Lang, table: &Table, period_col: usize) -> Option<(f64, String)> {
    let (y, m, d) = crate::reference::contract::MERGER_DATE;
    let merger = chrono::NaiveDate::from_ymd_opt(y, m, d)?;
    let spans: Vec<Option<(chrono::NaiveDate, chrono::NaiveDate)>> = table
        .rows
        .iter()
        .map(|r| {
            let label = r[period_col].as_str()?;
            crate::score::scoring::Period::parse(label)
                .ok()
                .map(|p| (p.start, p.end))
        })
        .collect();
    // The first period reaching the merger: it starts there (mark its
    // start), or it holds it (mark its middle); none before it, no mark.
    let i = spans
        .iter()
        .position(|s| s.is_some_and(|(_, end)| end >= merger))?;
    let (start, _) = spans[i]?;
    let at = if start == merger {
        spans[..i]
            .iter()
            .any(Option::is_some)
            .then_some(i as f64 - 0.5)?
    } else if start < merger {
        i as f64
    } else {
        return None;
    };
    Some((at, t(lang, "merger_marker")))
}

/// The chart of a chart panel.
pub fn chart(lang: Lang, panel: &Panel, table: &Table, highlight: Option<&str>) -> Option<Chart> {
    let title = panel.title.get(lang).to_string();
    let y_label = panel
        .y_label
        .as_ref()
        .map(|l| l.get(lang).to_string())
        .unwrap_or_default();
    match panel.kind {
        Kind::Line => {
            let x = panel.x.as_deref()?;
            let xi = table.col(x)?;
            let categories = table
                .rows
                .iter()
                .map(|r| display(lang, x, &r[xi]))
                .collect();
            let markers = merger_marker(lang, table, xi).into_iter().collect();
            let series = panel
                .y
                .iter()
                .filter_map(|c| {
                    let i = table.col(c)?;
                    Some(Series {
                        name: t(lang, c),
                        values: table.rows.iter().map(|r| r[i].as_f64()).collect(),
                    })
                })
                .collect();
            Some(Chart::Line {
                title,
                categories,
                y_label,
                series,
                markers,
            })
        }
        Kind::Bar => {
            let xi = table.col(panel.x.as_deref()?)?;
            let yi = table.col(panel.y.first()?)?;
            Some(Chart::Bar {
                title,
                categories: table.rows.iter().map(|r| r[xi].plain()).collect(),
                y_label,
                values: table
                    .rows
                    .iter()
                    .map(|r| r[yi].as_f64().unwrap_or(0.0))
                    .collect(),
            })
        }
        Kind::Funnel => {
            let mean = table
                .rows
                .first()
                .and_then(|r| table.get(r, "mean").as_f64())?;
            Some(Chart::Funnel {
                title,
                x_label: t(lang, "funnel_x"),
                y_label: t(lang, "funnel_y"),
                points: table
                    .rows
                    .iter()
                    .filter_map(|r| {
                        Some(FunnelPoint {
                            label: table.get(r, "province_name").plain(),
                            n: table.get(r, "n").as_f64()?,
                            rate: table.get(r, "rate").as_f64()?,
                            highlight: highlight
                                .is_some_and(|h| table.get(r, "province_code").as_str() == Some(h)),
                        })
                    })
                    .collect(),
                mean,
                labels: FunnelLabels {
                    mean: t(lang, "funnel_mean"),
                    inner: t(lang, "funnel_95"),
                    outer: t(lang, "funnel_998"),
                    unlabelled: t(lang, "funnel_unlabelled"),
                },
            })
        }
        _ => None,
    }
}

pub fn chart_svg(chart: &Chart) -> Result<String> {
    charts::svg_inline(chart)
}

/// The table as CSV, with the query's own column names and raw values
/// (machine-readable: shares are not rounded).
pub fn csv(table: &Table) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&table.columns)?;
    for r in &table.rows {
        w.write_record(r.iter().map(Cell::plain))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The table as an Excel workbook: a header row in the reader's language
/// and typed cells (numbers stay numbers, dates dates).
pub fn xlsx(
    lang: Lang,
    title: &str,
    table: &Table,
    prov: Option<&crate::score::scoring::Provenance>,
) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    let name: String = title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    if !name.is_empty() {
        sheet.set_name(&name)?;
    }
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (j, c) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(0, j as u16, t(lang, c), &bold)?;
    }
    for (i, r) in table.rows.iter().enumerate() {
        let row = (i + 1) as u32;
        for (j, cell) in r.iter().enumerate() {
            let col = j as u16;
            match cell {
                Cell::Null => {}
                Cell::Bool(b) => {
                    sheet.write_boolean(row, col, *b)?;
                }
                Cell::Int(v) => {
                    sheet.write_number(row, col, *v as f64)?;
                }
                Cell::Float(v) => {
                    sheet.write_number(row, col, *v)?;
                }
                Cell::Text(s) => {
                    sheet.write_string(row, col, s)?;
                }
                Cell::Date(d) => {
                    let x = rust_xlsxwriter::ExcelDateTime::from_ymd(
                        chrono::Datelike::year(d) as u16,
                        chrono::Datelike::month(d) as u8,
                        chrono::Datelike::day(d) as u8,
                    )?;
                    sheet.write_datetime_with_format(row, col, &x, &date)?;
                }
            }
        }
    }
    if let Some(p) = prov {
        // A line under the table (a blank row apart) says where the
        // figures come from; the table itself stays a plain range.
        let row = table.rows.len() as u32 + 2;
        sheet.write_string(row, 0, provenance_line(lang, p))?;
    }
    Ok(wb.save_to_buffer()?)
}

/// "Dữ liệu đến ngày 15/11/2026 · dấu vân tay dữ liệu 3fa9c2e1b7d0".
pub fn provenance_line(lang: Lang, p: &crate::score::scoring::Provenance) -> String {
    crate::present::i18n::tf(
        lang,
        "provenance_line",
        &[
            ("as_of", crate::present::i18n::date(lang, p.as_of)),
            ("fingerprint", p.store_fingerprint.clone()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::rules::Rules;

    fn indicator_row(id: &str, v: f64, nat: f64, num: i64, den: i64) -> Vec<Cell> {
        vec![
            Cell::Text(id.into()),
            Cell::Float(v),
            Cell::Float(nat),
            Cell::Int(num),
            Cell::Int(den),
            Cell::Float(55.0),
            Cell::Text("C".into()),
        ]
    }

    fn table(rows: Vec<Vec<Cell>>) -> Table {
        Table {
            columns: [
                "indicator",
                "value",
                "national_value",
                "numerator",
                "denominator",
                "composite",
                "tier",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }
    }

    #[test]
    fn trend_charts_mark_the_2025_merger() {
        let periods = |labels: &[&str]| Table {
            columns: vec!["period".into()],
            rows: labels
                .iter()
                .map(|l| vec![Cell::Text(l.to_string())])
                .collect(),
        };
        let t = periods(&["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]);
        let (at, label) = merger_marker(Lang::En, &t, 0).unwrap();
        assert_eq!(at, 1.5, "between Q2 and Q3 2025");
        assert_eq!(label, "Provinces merged 1 Jul 2025");
        assert!(merger_marker(Lang::En, &periods(&["2025-Q3", "2025-Q4"]), 0).is_none());
        let years = periods(&["2024", "2025", "2026"]);
        assert_eq!(
            merger_marker(Lang::En, &years, 0).unwrap().0,
            1.0,
            "inside 2025"
        );
        let months = periods(&["2025-05", "2025-06", "2025-07"]);
        assert_eq!(merger_marker(Lang::Vi, &months, 0).unwrap().0, 1.5);
    }

    #[test]
    fn few_cases_are_marked_below_the_threshold_and_not_above() {
        let rules = Rules::bundled();
        let n = rules.presentation.few_cases;
        assert!(
            crate::score::scoring::few_cases_note(Lang::En, rules.presentation.few_cases, 0, n - 1)
                .contains("few cases")
        );
        assert_eq!(
            crate::score::scoring::few_cases_note(Lang::En, rules.presentation.few_cases, 0, n),
            ""
        );
        assert_eq!(
            crate::score::scoring::few_cases_note(Lang::En, rules.presentation.few_cases, 0, 0),
            ""
        );
        assert!(
            crate::score::scoring::few_cases_note(Lang::Vi, rules.presentation.few_cases, 1, 1)
                .contains("ít số liệu (n = 1)")
        );
        let t = table(vec![
            indicator_row("e5_account_hygiene", 0.0, 0.8, 0, 1),
            indicator_row("d2_settlement_on_time", 0.5, 0.85, 20, 40),
        ]);
        let view = table_view_marked(Lang::En, &[], &t, &|_| String::new(), Some(&rules));
        let value_cells: Vec<&CellView> = view.rows.iter().map(|r| &r[1]).collect();
        assert!(value_cells[0].text.ends_with('⚑') && value_cells[0].title.contains("n = 1"));
        assert!(!value_cells[1].text.ends_with('⚑') && value_cells[1].title.is_empty());
    }

    #[test]
    fn reasons_rank_by_weighted_effect_and_say_when_few_cases_decide() {
        let rules = Rules::bundled();
        // e5 (weight 0.1) is 80 points under the nation on one account;
        // d2 (weight 0.4) 35 points under on forty cases: d2 moves the
        // composite more (4.7 against 2.7 points) and comes first.
        let t = table(vec![
            indicator_row("e5_account_hygiene", 0.0, 0.8, 0, 1),
            indicator_row("d2_settlement_on_time", 0.5, 0.85, 20, 40),
        ]);
        let r = reasons(Lang::En, &rules, &t);
        assert!(r[1].starts_with("Settlement on time"), "{r:?}");
        assert!(!r[1].contains("few cases"), "{r:?}");
        assert!(
            r[2].starts_with("Accounts closed on time") && r[2].contains("few cases (n = 1)"),
            "{r:?}"
        );
    }
}
