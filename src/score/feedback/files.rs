//! A feedback report as files to send: a workbook (a summary sheet, then
//! one sheet per section) and a CSV of the same sections one after the
//! other, each headed by the extract date and the store fingerprint, and
//! named so that a clerk sees which province a file is for.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::{Report, Scope, Section};
use crate::present::i18n::Lang;
use crate::present::table::Cell;
use crate::reference::Reference;

/// `phan-hoi-2026-11-15-24-bac-ninh` (Vietnamese) or
/// `feedback-2026-11-15-24-bac-ninh` (English); the national report ends
/// in `toan-quoc` or `national`.
pub fn file_stem(lang: Lang, reference: &Reference, report: &Report, scope: &Scope) -> String {
    let prefix = match lang {
        Lang::Vi => "phan-hoi",
        Lang::En => "feedback",
    };
    let whom = match scope {
        Scope::National => match lang {
            Lang::Vi => "toan-quoc".to_string(),
            Lang::En => "national".to_string(),
        },
        Scope::Province(code) => {
            let name = reference
                .province(code)
                .map(|p| slug(&p.name_vi))
                .unwrap_or_default();
            format!("{code}-{name}")
        }
    };
    format!("{prefix}-{}-{whom}", report.extract_date)
}

/// Lower-case ASCII words joined by `-`, Vietnamese letters without their
/// marks (`Bắc Ninh` → `bac-ninh`, `Đà Nẵng` → `da-nang`).
fn slug(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let plain: String = s
        .nfd()
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .filter(char::is_ascii)
        .collect();
    plain
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The line naming the extract and the store a file was computed from.
fn stamp(lang: Lang, report: &Report) -> String {
    match lang {
        Lang::Vi => format!(
            "{} · {} · bản trích xuất ngày {} · dấu vân tay dữ liệu {}",
            report.title, report.recipient, report.extract_date, report.fingerprint
        ),
        Lang::En => format!(
            "{} · {} · extract dated {} · store fingerprint {}",
            report.title, report.recipient, report.extract_date, report.fingerprint
        ),
    }
}

/// The report as CSV: the stamp and facts, then each section's title,
/// note, header and rows, separated by blank lines.
pub fn csv(lang: Lang, report: &Report) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record([stamp(lang, report)])?;
    for (label, value) in &report.facts {
        w.write_record([label, value])?;
    }
    for s in &report.sections {
        w.write_record([""])?;
        w.write_record([&s.title])?;
        w.write_record([&s.note])?;
        w.write_record(&s.columns)?;
        for r in &s.rows {
            w.write_record(r.iter().map(Cell::plain))?;
        }
        if s.rows.is_empty() && !s.empty.is_empty() {
            w.write_record([&s.empty])?;
        }
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

fn sheet_name(title: &str) -> String {
    title
        .chars()
        .filter(|c| !"[]:*?/\\'".contains(*c))
        .take(31)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn write_cell(sheet: &mut Worksheet, row: u32, col: u16, cell: &Cell) -> Result<()> {
    match cell {
        Cell::Null => {}
        Cell::Int(v) => {
            sheet.write_number(row, col, *v as f64)?;
        }
        Cell::Float(v) => {
            sheet.write_number(row, col, *v)?;
        }
        other => {
            sheet.write_string(row, col, other.plain())?;
        }
    }
    Ok(())
}

/// A section's short sheet name.
fn sheet_title(lang: Lang, s: &Section) -> String {
    let (vi, en) = match s.id {
        "quarantined" => ("Dòng bị cách ly", "Quarantined rows"),
        "late" => ("Nhập muộn", "Late entries"),
        "missing_tables" => ("Bảng thiếu", "Missing tables"),
        "comparison" => ("So sánh", "Comparison"),
        _ => return sheet_name(&s.title),
    };
    sheet_name(&super::words::pick(lang, vi, en))
}

fn section_sheet(wb: &mut Workbook, lang: Lang, stamp: &str, s: &Section) -> Result<()> {
    let bold = Format::new().set_bold();
    let sheet = wb.add_worksheet();
    sheet.set_name(sheet_title(lang, s))?;
    sheet.write_string_with_format(0, 0, &s.title, &bold)?;
    sheet.write_string(1, 0, stamp)?;
    sheet.write_string(2, 0, &s.note)?;
    for (j, c) in s.columns.iter().enumerate() {
        sheet.write_string_with_format(4, j as u16, c, &bold)?;
        sheet.set_column_width(j as u16, if j == 0 { 24 } else { 18 })?;
    }
    for (i, r) in s.rows.iter().enumerate() {
        for (j, cell) in r.iter().enumerate() {
            write_cell(sheet, 5 + i as u32, j as u16, cell)?;
        }
    }
    if s.rows.is_empty() {
        sheet.write_string(5, 0, &s.empty)?;
    }
    Ok(())
}

/// The report as a workbook: a summary sheet (stamp, facts, and how many
/// rows each section lists), then one sheet per section.
pub fn xlsx(lang: Lang, report: &Report) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let stamp = stamp(lang, report);
    let bold = Format::new().set_bold();
    let summary = wb.add_worksheet();
    summary.set_name(match lang {
        Lang::Vi => "Tóm tắt",
        Lang::En => "Summary",
    })?;
    summary.set_column_width(0, 48)?;
    summary.set_column_width(1, 40)?;
    summary.write_string_with_format(0, 0, &report.title, &bold)?;
    summary.write_string(1, 0, &stamp)?;
    let mut row = 3;
    for (label, value) in &report.facts {
        summary.write_string_with_format(row, 0, label, &bold)?;
        summary.write_string(row, 1, value)?;
        row += 1;
    }
    row += 1;
    for s in &report.sections {
        summary.write_string(row, 0, &s.title)?;
        summary.write_number(row, 1, s.rows.len() as f64)?;
        row += 1;
    }
    for s in &report.sections {
        section_sheet(&mut wb, lang, &stamp, s)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// Writes the report's workbook and CSV into `dir`; returns their paths.
pub fn write(
    dir: &Path,
    lang: Lang,
    reference: &Reference,
    report: &Report,
    scope: &Scope,
) -> Result<Vec<PathBuf>> {
    let stem = file_stem(lang, reference, report, scope);
    let mut out = Vec::new();
    for (ext, body) in [("xlsx", xlsx(lang, report)?), ("csv", csv(lang, report)?)] {
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_which_province_a_file_is_for() {
        assert_eq!(slug("Bắc Ninh"), "bac-ninh");
        assert_eq!(slug("Đà Nẵng"), "da-nang");
        assert_eq!(slug("Thành phố Hồ Chí Minh"), "thanh-pho-ho-chi-minh");
        assert_eq!(sheet_name("Dòng bị cách ly: [a/b]"), "Dòng bị cách ly ab");
    }
}
