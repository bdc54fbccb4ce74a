//! Ingestion: an extract folder is read, every row checked against the
//! contract, bad rows quarantined with their reason, requester identities
//! replaced by pseudonymous references, and the accepted rows committed to
//! the store in one atomic step (METHODOLOGY section 3).
//!
//! The whole extract is read and validated before anything is written, so a
//! file that cannot be read, a missing required column or an inconvertible
//! Parquet type rejects the extract with the store untouched.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Int32Array,
    Int32Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt64Array, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options, concat, filter};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::{ProjectionMask, arrow_reader::ArrowReaderOptions};
use datafusion::parquet::file::statistics::Statistics;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::extract::pseudonym::Key;
use crate::reference::Reference;
use crate::reference::contract::{
    ColType, Column, EXTRACT_DATE, RAW_IDENTITY, REQUESTER_REF, Table,
};
use crate::store::{self, ExtractEntry, FileRecord, Store};

/// Vietnam local time is UTC+7 all year.
pub use crate::reference::dates::{date_from_day, day_number, epoch, parse_date, parse_timestamp};

const VIETNAM_OFFSET_MICROS: i64 = 7 * 3600 * 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

fn micros_of(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// The local date (day number) of a timestamp in microseconds.
fn day_of_micros(us: i64) -> i32 {
    us.div_euclid(MICROS_PER_DAY) as i32
}

// ---------------------------------------------------------------------------
// Manifest and file discovery

#[derive(Debug, Clone)]
pub struct Manifest {
    pub extract_date: NaiveDate,
    pub source: String,
}

#[derive(Deserialize)]
struct RawManifest {
    extract_date: String,
    #[serde(default)]
    source: Option<String>,
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    present(&path)?;
    let mut text = String::new();
    open_extract_file(&path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| {
        anyhow!(
            "extract rejected: cannot read {} ({e}); every extract needs a manifest.json with its extract_date",
            path.display()
        )
    })?;
    let raw: RawManifest = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| anyhow!("extract rejected: {} is not valid: {e}", path.display()))?;
    let extract_date = parse_date(&raw.extract_date).ok_or_else(|| {
        anyhow!(
            "extract rejected: {}: extract_date '{}' is not a date YYYY-MM-DD",
            path.display(),
            raw.extract_date
        )
    })?;
    Ok(Manifest {
        extract_date,
        source: raw.source.unwrap_or_default(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

#[derive(Debug, Clone)]
struct InputFile {
    table: Table,
    path: PathBuf,
    name: String,
    format: Format,
}

/// Whether an extract file is there: only a regular file directly in the
/// extract folder counts. A symbolic link (which could point anywhere on
/// the machine), a folder or a device under a table's name rejects the
/// extract; nothing outside the folder is ever opened.
fn present(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => bail!("extract rejected: cannot inspect {}: {e}", path.display()),
        Ok(m) if m.file_type().is_symlink() => bail!(
            "extract rejected: {} is a symbolic link; extract files must be regular files inside the extract folder",
            path.display()
        ),
        Ok(m) if !m.is_file() => bail!(
            "extract rejected: {} is not a regular file; extract files must be regular files inside the extract folder",
            path.display()
        ),
        Ok(_) => Ok(true),
    }
}

/// Opens an extract file without following a symbolic link, so that a
/// link put in place after [`present`] looked is refused too.
fn open_extract_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn locate_files(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<InputFile>> {
    let mut found = Vec::new();
    for table in Table::ALL {
        let csv = dir.join(format!("{}.csv", table.name()));
        let pq = dir.join(format!("{}.parquet", table.name()));
        match (present(&csv)?, present(&pq)?) {
            (true, true) => bail!(
                "extract rejected: {} comes both as {}.csv and {}.parquet; send one",
                table.name(),
                table.name(),
                table.name()
            ),
            (true, false) => found.push(InputFile {
                table,
                name: format!("{}.csv", table.name()),
                path: csv,
                format: Format::Csv,
            }),
            (false, true) => found.push(InputFile {
                table,
                name: format!("{}.parquet", table.name()),
                path: pq,
                format: Format::Parquet,
            }),
            (false, false) => {}
        }
    }
    let known: HashSet<String> = found
        .iter()
        .map(|f| f.name.clone())
        .chain(["manifest.json".to_string()])
        .collect();
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("extract rejected: cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !known.contains(n))
        .collect();
    entries.sort();
    for n in entries {
        warnings.push(format!("{n}: not a table of the contract, ignored"));
    }
    Ok(found)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = open_extract_file(path)
        .with_context(|| format!("extract rejected: cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("extract rejected: cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

// ---------------------------------------------------------------------------
// Cell parsing

pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

enum Builder {
    Text(StringBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
}

impl Builder {
    fn new(ty: ColType) -> Builder {
        match ty {
            ColType::Text => Builder::Text(StringBuilder::new()),
            ColType::Date => Builder::Date(Date32Builder::new()),
            ColType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::new()),
            ColType::Bool => Builder::Bool(BooleanBuilder::new()),
            ColType::Int32 => Builder::I32(Int32Builder::new()),
            ColType::Int64 => Builder::I64(Int64Builder::new()),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
        }
    }

    /// Appends a non-empty cell; on a cell that does not parse, appends null
    /// and says why.
    fn append(&mut self, cell: &str) -> std::result::Result<(), ()> {
        let ok = match self {
            Builder::Text(b) => {
                b.append_value(cell);
                true
            }
            Builder::Date(b) => parse_date(cell)
                .map(|d| b.append_value(day_number(d)))
                .is_some(),
            Builder::Ts(b) => parse_timestamp(cell)
                .map(|t| b.append_value(micros_of(t)))
                .is_some(),
            Builder::Bool(b) => parse_bool(cell).map(|v| b.append_value(v)).is_some(),
            Builder::I32(b) => cell.parse::<i32>().map(|v| b.append_value(v)).is_ok(),
            Builder::I64(b) => cell.parse::<i64>().map(|v| b.append_value(v)).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            self.append_null();
            Err(())
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
            Builder::Ts(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::I32(mut b) => Arc::new(b.finish()),
            Builder::I64(mut b) => Arc::new(b.finish()),
        }
    }
}

// ---------------------------------------------------------------------------
// Reading a table file into canonical columns

/// Why one row was quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub column: Option<&'static str>,
    /// A short stable kind, counted in summaries (e.g. `duplicate_key`).
    pub kind: &'static str,
    pub message: String,
}

fn problem(column: &'static str, kind: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        column: Some(column),
        kind,
        message: message.into(),
    }
}

/// A table file read into the contract's column order and types.
struct Parsed {
    input: InputFile,
    rows: usize,
    columns: Vec<ArrayRef>,
    /// Line number (CSV, header = line 1) or row number (Parquet, from 1).
    lines: Vec<u64>,
    /// The first problem found in each row.
    problems: Vec<Option<Problem>>,
}

fn read_table(input: &InputFile, warnings: &mut Vec<String>) -> Result<Parsed> {
    match input.format {
        Format::Csv => read_csv(input, warnings),
        Format::Parquet => read_parquet(input, warnings),
    }
    .map_err(|e| anyhow!("extract rejected: {}: {e:#}", input.name))
}

fn column_map(
    table: Table,
    header: &[String],
    warnings: &mut Vec<String>,
    file: &str,
) -> Result<Vec<Option<usize>>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if seen.insert(h.as_str(), i).is_some() {
            bail!("the header names the column '{h}' twice");
        }
    }
    let mut map = Vec::new();
    for c in table.columns() {
        match seen.get(c.name) {
            Some(i) => map.push(Some(*i)),
            None if c.optional => map.push(None),
            None => bail!("the required column '{}' is missing", c.name),
        }
    }
    for h in header {
        if table.column(h).is_none() {
            warnings.push(format!("{file}: unknown column '{h}' ignored"));
        }
    }
    Ok(map)
}

fn read_csv(input: &InputFile, warnings: &mut Vec<String>) -> Result<Parsed> {
    let mut bytes = Vec::new();
    open_extract_file(&input.path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .context("cannot read the file")?;
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let header: Vec<String> = rdr
        .byte_headers()
        .context("cannot read the header row")?
        .iter()
        .map(|h| {
            std::str::from_utf8(h)
                .map(str::to_string)
                .map_err(|_| anyhow!("the header row is not UTF-8"))
        })
        .collect::<Result<_>>()?;
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        bail!("the file has no header row");
    }
    let table = input.table;
    let map = column_map(table, &header, warnings, &input.name)?;
    let cols = table.columns();
    let mut builders: Vec<Builder> = cols.iter().map(|c| Builder::new(c.ty)).collect();
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(anyhow!("cannot be read as CSV: {e}")),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        lines.push(line);
        let mut first: Option<Problem> = None;
        if record.len() != header.len() {
            first = Some(Problem {
                column: None,
                kind: "wrong_field_count",
                message: format!(
                    "the line has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            });
        }
        for (ci, c) in cols.iter().enumerate() {
            let cell = map[ci].and_then(|i| record.get(i)).unwrap_or(b"");
            if cell.is_empty()
                || first
                    .as_ref()
                    .is_some_and(|p| p.kind == "wrong_field_count")
            {
                builders[ci].append_null();
                continue;
            }
            let Ok(text) = std::str::from_utf8(cell) else {
                builders[ci].append_null();
                first.get_or_insert(problem(c.name, "invalid_utf8", "the value is not UTF-8"));
                continue;
            };
            if builders[ci].append(text).is_err() {
                first.get_or_insert_with(|| {
                    problem(
                        c.name,
                        "unparseable",
                        format!("{} is not a {}", shown(c, text), c.ty.describe()),
                    )
                });
            }
        }
        problems.push(first);
    }
    let columns: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
    Ok(Parsed {
        input: input.clone(),
        rows: lines.len(),
        columns,
        lines,
        problems,
    })
}

/// A value as it may appear in a message: sensitive columns never echo.
fn shown(c: &Column, value: &str) -> String {
    if crate::reference::contract::SENSITIVE.contains(&c.name) {
        "the value".to_string()
    } else {
        let v: String = value.chars().take(60).collect();
        format!("'{v}'")
    }
}

fn read_parquet(input: &InputFile, warnings: &mut Vec<String>) -> Result<Parsed> {
    let file = open_extract_file(&input.path).context("cannot open the file")?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, ArrowReaderOptions::new())
            .context("cannot be read as Parquet")?;
    let schema = builder.schema().clone();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let table = input.table;
    let map = column_map(table, &header, warnings, &input.name)?;
    // Read only the contract's columns.
    let wanted: Vec<usize> = map.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()
        .context("cannot be read as Parquet")?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.context("cannot be read as Parquet")?);
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let cols = table.columns();
    let mut problems: Vec<Option<Problem>> = vec![None; rows];
    let mut columns = Vec::with_capacity(cols.len());
    for (ci, c) in cols.iter().enumerate() {
        let Some(src_idx) = map[ci] else {
            columns.push(new_null_array(&c.ty.arrow(), rows));
            continue;
        };
        let name = &header[src_idx];
        let parts: Vec<ArrayRef> = batches
            .iter()
            .map(|b| {
                b.column_by_name(name)
                    .cloned()
                    .ok_or_else(|| anyhow!("column '{name}' vanished while reading"))
            })
            .collect::<Result<_>>()?;
        let source = if parts.is_empty() {
            new_null_array(schema.field(src_idx).data_type(), 0)
        } else {
            let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            concat(&refs)?
        };
        let (array, lost) = convert_column(c, &source)?;
        for row in lost {
            problems[row].get_or_insert_with(|| {
                problem(
                    c.name,
                    "unparseable",
                    format!("the value does not fit a {}", c.ty.describe()),
                )
            });
        }
        columns.push(array);
    }
    Ok(Parsed {
        input: input.clone(),
        rows,
        columns,
        lines: (1..=rows as u64).collect(),
        problems,
    })
}

/// Converts a Parquet column to the contract type, when that is possible
/// without loss for the type as a whole; rows whose value alone does not
/// fit are returned.
fn convert_column(c: &Column, src: &ArrayRef) -> Result<(ArrayRef, Vec<usize>)> {
    let from = src.data_type();
    let refuse = || {
        anyhow!(
            "column '{}' has the type {from}, which cannot be converted to {} without loss",
            c.name,
            c.ty.describe()
        )
    };
    let is_string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let lost = |out: &ArrayRef| -> Vec<usize> {
        (0..src.len())
            .filter(|&i| src.is_valid(i) && out.is_null(i))
            .collect()
    };
    match c.ty {
        ColType::Text => {
            let ok = is_string(from)
                || matches!(from, DataType::Dictionary(_, v) if is_string(v))
                || matches!(from, DataType::Null);
            if !ok {
                return Err(refuse());
            }
            Ok((cast(src, &DataType::Utf8)?, Vec::new()))
        }
        ColType::Int32 | ColType::Int64 => {
            if !(from.is_integer() || matches!(from, DataType::Null)) {
                return Err(refuse());
            }
            let opts = CastOptions {
                safe: true,
                ..Default::default()
            };
            let out = cast_with_options(src, &c.ty.arrow(), &opts)?;
            let l = lost(&out);
            Ok((out, l))
        }
        ColType::Bool => match from {
            DataType::Boolean | DataType::Null => Ok((cast(src, &DataType::Boolean)?, Vec::new())),
            _ => Err(refuse()),
        },
        ColType::Date => match from {
            DataType::Date32 | DataType::Date64 | DataType::Null => {
                Ok((cast(src, &DataType::Date32)?, Vec::new()))
            }
            _ => Err(refuse()),
        },
        ColType::Timestamp => match from {
            DataType::Timestamp(_, tz) => {
                let micros = cast(src, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?;
                let micros = micros
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .expect("cast to microseconds");
                // A zoned timestamp is an instant; Vietnam local time is UTC+7.
                let shift = if tz.is_some() {
                    VIETNAM_OFFSET_MICROS
                } else {
                    0
                };
                let local: TimestampMicrosecondArray =
                    micros.iter().map(|v| v.map(|v| v + shift)).collect();
                Ok((Arc::new(local), Vec::new()))
            }
            DataType::Null => Ok((
                cast(src, &crate::reference::contract::TIMESTAMP)?,
                Vec::new(),
            )),
            _ => Err(refuse()),
        },
    }
}

// ---------------------------------------------------------------------------
// Validation

enum View<'a> {
    Text(&'a StringArray),
    Date(&'a Date32Array),
    Ts(&'a TimestampMicrosecondArray),
    Bool(&'a BooleanArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
}

/// Typed access to the canonical columns of a parsed table.
struct Rows<'a> {
    table: Table,
    views: Vec<View<'a>>,
}

impl<'a> Rows<'a> {
    fn new(p: &'a Parsed) -> Rows<'a> {
        let views = p
            .input
            .table
            .columns()
            .iter()
            .zip(&p.columns)
            .map(|(c, a)| {
                let any = a.as_any();
                match c.ty {
                    ColType::Text => View::Text(any.downcast_ref().expect("utf8")),
                    ColType::Date => View::Date(any.downcast_ref().expect("date32")),
                    ColType::Timestamp => View::Ts(any.downcast_ref().expect("timestamp")),
                    ColType::Bool => View::Bool(any.downcast_ref().expect("bool")),
                    ColType::Int32 => View::I32(any.downcast_ref().expect("int32")),
                    ColType::Int64 => View::I64(any.downcast_ref().expect("int64")),
                }
            })
            .collect();
        Rows {
            table: p.input.table,
            views,
        }
    }

    fn idx(&self, name: &str) -> usize {
        self.table
            .columns()
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is not a column of {}", self.table))
    }

    fn is_null(&self, ci: usize, row: usize) -> bool {
        match &self.views[ci] {
            View::Text(a) => a.is_null(row),
            View::Date(a) => a.is_null(row),
            View::Ts(a) => a.is_null(row),
            View::Bool(a) => a.is_null(row),
            View::I32(a) => a.is_null(row),
            View::I64(a) => a.is_null(row),
        }
    }

    /// The text of a column the table may lack (None then).
    fn text_if_any(&self, name: &str, row: usize) -> Option<&'a str> {
        self.table.column(name)?;
        self.text(name, row)
    }

    fn text(&self, name: &str, row: usize) -> Option<&'a str> {
        match &self.views[self.idx(name)] {
            View::Text(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    fn text_at(&self, ci: usize, row: usize) -> Option<&'a str> {
        match &self.views[ci] {
            View::Text(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    /// A date or the date of a timestamp, as a day number.
    fn day_at(&self, ci: usize, row: usize) -> Option<i32> {
        match &self.views[ci] {
            View::Date(a) if a.is_valid(row) => Some(a.value(row)),
            View::Ts(a) if a.is_valid(row) => Some(day_of_micros(a.value(row))),
            _ => None,
        }
    }

    fn day(&self, name: &str, row: usize) -> Option<i32> {
        self.day_at(self.idx(name), row)
    }

    fn micros(&self, name: &str, row: usize) -> Option<i64> {
        match &self.views[self.idx(name)] {
            View::Ts(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    fn int_at(&self, ci: usize, row: usize) -> Option<i64> {
        match &self.views[ci] {
            View::I32(a) if a.is_valid(row) => Some(a.value(row) as i64),
            View::I64(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    fn int(&self, name: &str, row: usize) -> Option<i64> {
        self.int_at(self.idx(name), row)
    }
}

/// What is known of parents when children are checked: stored rows plus the
/// valid rows of this extract.
#[derive(Default)]
struct Known {
    units: HashSet<String>,
    /// Case id → received_at (µs), of this extract's valid cases.
    extract_cases: HashMap<String, i64>,
    /// Case id → received_at (µs) of stored cases, looked up on demand.
    stored_cases: HashMap<String, i64>,
}

fn fmt_day(day: i32) -> String {
    date_from_day(day).format("%Y-%m-%d").to_string()
}

fn fmt_micros(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| us.to_string())
}

/// The single-column rules: required, enumeration, ≥ 0, not after the
/// extract date.
fn column_rules(rows: &Rows, row: usize, extract_day: i32) -> Option<Problem> {
    for (ci, c) in rows.table.columns().iter().enumerate() {
        if rows.is_null(ci, row) {
            if !c.nullable {
                return Some(problem(
                    c.name,
                    "missing_value",
                    "a required value is missing",
                ));
            }
            continue;
        }
        if !c.allowed.is_empty() {
            let v = rows.text_at(ci, row).unwrap_or_default();
            if !c.allowed.contains(&v) {
                return Some(problem(
                    c.name,
                    "not_in_enumeration",
                    format!("{} is not one of {}", shown(c, v), c.allowed.join(", ")),
                ));
            }
        }
        if c.non_negative
            && let Some(v) = rows.int_at(ci, row)
            && v < 0
        {
            return Some(problem(
                c.name,
                "negative",
                format!("{v} is negative; it must be ≥ 0"),
            ));
        }
        if matches!(c.ty, ColType::Date | ColType::Timestamp)
            && !c.planned_end
            && let Some(d) = rows.day_at(ci, row)
            && d > extract_day
        {
            return Some(problem(
                c.name,
                "after_extract_date",
                format!(
                    "{} is after the extract date {}",
                    fmt_day(d),
                    fmt_day(extract_day)
                ),
            ));
        }
    }
    None
}

fn not_before(
    rows: &Rows,
    row: usize,
    later: &'static str,
    earlier: &'static str,
) -> Option<Problem> {
    let (Some(a), Some(b)) = (rows.day(earlier, row), rows.day(later, row)) else {
        return None;
    };
    (b < a).then(|| {
        problem(
            later,
            "before_start",
            format!("{later} {} is before {earlier} {}", fmt_day(b), fmt_day(a)),
        )
    })
}

fn unit_exists(rows: &Rows, row: usize, known: &Known) -> Option<Problem> {
    let code = rows.text("unit_code", row)?;
    (!known.units.contains(code)).then(|| {
        problem(
            "unit_code",
            "unknown_unit",
            format!("unit '{code}' is not in units (stored or in this extract)"),
        )
    })
}

/// The rules that involve several columns, other tables or the reference.
fn row_rules(rows: &Rows, row: usize, known: &Known, reference: &Reference) -> Option<Problem> {
    match rows.table {
        Table::Units => {
            let level = rows.text("level", row)?;
            let code = rows.text("province_code", row);
            if code.is_none() && level != "central" {
                return Some(problem(
                    "province_code",
                    "missing_value",
                    format!("a {level} unit needs a province_code"),
                ));
            }
            if let Some(p) = not_before(rows, row, "valid_to", "valid_from") {
                return Some(p);
            }
            let from = date_from_day(rows.day("valid_from", row)?);
            let to = rows.day("valid_to", row).map(date_from_day);
            let code = code?;
            reference
                .unit_code_problem(code, from, to)
                .map(|m| problem("province_code", "province_code", m))
        }
        Table::ReceptionSessions => {
            if let Some(p) = unit_exists(rows, row, known) {
                return Some(p);
            }
            not_before(rows, row, "db_entered_at", "session_date")
        }
        Table::Cases => {
            if let Some(p) = unit_exists(rows, row, known) {
                return Some(p);
            }
            let case_type = rows.text("case_type", row)?;
            let round = rows.int("round", row);
            let msg = match (case_type == "complaint", round) {
                (true, Some(1 | 2)) | (false, None) => return None,
                (true, None) => "a complaint needs its round (1 or 2)".to_string(),
                (true, Some(r)) => format!("round {r} is not 1 or 2"),
                (false, Some(r)) => {
                    format!("round {r} given for a {case_type}; only complaints have rounds")
                }
            };
            Some(problem("round", "round", msg))
        }
        Table::Officials => {
            if let Some(p) = unit_exists(rows, row, known) {
                return Some(p);
            }
            if let Some(p) = not_before(rows, row, "assigned_to", "assigned_from") {
                return Some(p);
            }
            let has_account = rows.text("account_id", row).is_some();
            let granted = rows.micros("account_granted_at", row);
            let revoked = rows.micros("account_revoked_at", row);
            if has_account != granted.is_some() {
                return Some(problem(
                    "account_granted_at",
                    "account_consistency",
                    if has_account {
                        "account_id is given but account_granted_at is missing"
                    } else {
                        "account_granted_at is given without an account_id"
                    },
                ));
            }
            match (granted, revoked) {
                (None, Some(_)) => Some(problem(
                    "account_revoked_at",
                    "account_consistency",
                    "account_revoked_at is given for an account never granted",
                )),
                (Some(g), Some(r)) if r < g => Some(problem(
                    "account_revoked_at",
                    "before_start",
                    format!(
                        "account_revoked_at {} is before account_granted_at {}",
                        fmt_micros(r),
                        fmt_micros(g)
                    ),
                )),
                _ => None,
            }
        }
        Table::CaseEvents => {
            let case_id = rows.text("case_id", row)?;
            let received = known
                .extract_cases
                .get(case_id)
                .or_else(|| known.stored_cases.get(case_id));
            let Some(&received) = received else {
                return Some(problem(
                    "case_id",
                    "unknown_case",
                    format!("case '{case_id}' is not in cases (stored or in this extract)"),
                ));
            };
            let occurred = rows.micros("occurred_at", row)?;
            if occurred < received {
                return Some(problem(
                    "occurred_at",
                    "before_start",
                    format!(
                        "occurred_at {} is before the case's received_at {}",
                        fmt_micros(occurred),
                        fmt_micros(received)
                    ),
                ));
            }
            match rows.micros("db_entered_at", row) {
                Some(e) if e < occurred => Some(problem(
                    "db_entered_at",
                    "before_start",
                    format!(
                        "db_entered_at {} is before occurred_at {}",
                        fmt_micros(e),
                        fmt_micros(occurred)
                    ),
                )),
                _ => None,
            }
        }
        Table::Inspections => {
            let code = rows.text("province_code", row)?;
            if !reference.is_current(code) {
                return Some(problem(
                    "province_code",
                    "province_code",
                    format!("'{code}' is not one of the 34 province codes"),
                ));
            }
            not_before(rows, row, "ended_on", "started_on")
        }
    }
}

/// Checks every row of a parsed table; the first problem of each row wins,
/// in this order: unreadable cell, duplicate key, column rules, row rules.
fn validate(
    p: &Parsed,
    known: &Known,
    extract_day: i32,
    reference: &Reference,
) -> Vec<Option<Problem>> {
    let rows = Rows::new(p);
    let pk = rows.table.primary_key();
    let pk_idx = rows.idx(pk);
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for row in 0..p.rows {
        if let Some(k) = rows.text_at(pk_idx, row) {
            *counts.entry(k).or_default() += 1;
        }
    }
    (0..p.rows)
        .map(|row| {
            if let Some(pr) = &p.problems[row] {
                return Some(pr.clone());
            }
            if let Some(k) = rows.text_at(pk_idx, row) {
                let n = counts[k];
                if n > 1 {
                    return Some(problem(
                        pk,
                        "duplicate_key",
                        format!("{pk} '{k}' appears {n} times in this file"),
                    ));
                }
            }
            column_rules(&rows, row, extract_day)
                .or_else(|| row_rules(&rows, row, known, reference))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Stored form

/// The accepted rows in the stored schema: raw identity replaced by the
/// requester reference, the extract date added.
fn stored_batch(
    p: &Parsed,
    keep: &BooleanArray,
    key: &Key,
    extract_day: i32,
) -> Result<RecordBatch> {
    let table = p.input.table;
    let schema = table.stored_schema();
    let cols = table.columns();
    let kept: Vec<ArrayRef> = p
        .columns
        .iter()
        .map(|a| filter(a.as_ref(), keep))
        .collect::<std::result::Result<_, _>>()?;
    let n = kept.first().map_or(0, |a| a.len());
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, a) in cols.iter().zip(&kept) {
        if c.name == RAW_IDENTITY[0] {
            let id_idx = cols
                .iter()
                .position(|c| c.name == RAW_IDENTITY[1])
                .expect("id column");
            let names = a.as_any().downcast_ref::<StringArray>().expect("utf8");
            let ids = kept[id_idx]
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8");
            let keyed = key.keyed();
            let refs: StringArray = (0..n)
                .map(|i| {
                    let name = names.is_valid(i).then(|| names.value(i));
                    let id = ids.is_valid(i).then(|| ids.value(i));
                    keyed.requester_ref(name, id)
                })
                .collect();
            out.push(Arc::new(refs));
            continue;
        }
        if RAW_IDENTITY.contains(&c.name) {
            continue;
        }
        out.push(a.clone());
    }
    out.push(Arc::new(Date32Array::from(vec![extract_day; n])));
    debug_assert_eq!(schema.field(schema.fields().len() - 1).name(), EXTRACT_DATE);
    debug_assert!(schema.field_with_name(REQUESTER_REF).is_ok() || table != Table::Cases);
    Ok(RecordBatch::try_new(schema, out)?)
}

/// One quarantined row, as stored.
#[derive(Debug, Clone)]
pub struct QuarantinedRow {
    pub table: Table,
    pub file: String,
    pub line: u64,
    pub primary_key: Option<String>,
    pub problem: Problem,
    /// The keys that tie the row to a province, as sent: its unit (units,
    /// sessions, cases, officials), its case (events) and its province
    /// code (units, inspections). Codes, never personal data (METHODOLOGY
    /// section 3); kept so that a quarantined row can be reported to its
    /// province.
    pub links: Links,
}

/// The non-personal keys of a quarantined row that lead to its province.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub unit_code: Option<String>,
    pub case_id: Option<String>,
    pub province_code: Option<String>,
}

impl Links {
    /// Only values shaped as codes are kept: a row is quarantined because
    /// something in it is wrong, and a key column may then hold what
    /// belongs elsewhere (a name, an id number).
    fn of(rows: &Rows, row: usize) -> Links {
        let get = |name, shaped: fn(&str) -> bool| {
            rows.text_if_any(name, row)
                .filter(|s| shaped(s))
                .map(str::to_string)
        };
        Links {
            unit_code: get("unit_code", crate::reference::contract::looks_like_code),
            case_id: get("case_id", crate::reference::contract::looks_like_code),
            province_code: get(
                "province_code",
                crate::reference::contract::looks_like_province_code,
            ),
        }
    }
}

fn quarantine_batch(rows: &[QuarantinedRow], extract_day: i32) -> Result<RecordBatch> {
    let schema = store::quarantine_schema();
    let n = rows.len();
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Date32Array::from(vec![extract_day; n])),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.table.name()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.file.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.line))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.problem.column),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.problem.kind),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.problem.message.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.primary_key.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.links.unit_code.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.links.case_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.links.province_code.as_deref()),
            )),
        ],
    )?)
}

// ---------------------------------------------------------------------------
// Loading what the store already knows

fn read_stored_column_pairs(
    path: &Path,
    key_col: &str,
    value_col: Option<&str>,
    within: Option<(&str, &str)>,
    mut visit: impl FnMut(&str, Option<i64>),
) -> Result<()> {
    let file = File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let mut idx = vec![schema.index_of(key_col)?];
    if let Some(v) = value_col {
        idx.push(schema.index_of(v)?);
    }
    let groups = row_groups_within(&builder, key_col, within);
    if groups.is_empty() {
        return Ok(());
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
    for batch in builder
        .with_projection(mask)
        .with_row_groups(groups)
        .build()?
    {
        let batch = batch?;
        let keys = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| anyhow!("{}: {key_col} is not text", path.display()))?;
        let values = value_col.map(|_| {
            batch
                .column(1)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        });
        for i in 0..batch.num_rows() {
            let v = match &values {
                Some(Some(a)) if a.is_valid(i) => Some(a.value(i)),
                _ => None,
            };
            visit(keys.value(i), v);
        }
    }
    Ok(())
}

/// The row groups of a stored file whose `key_col` may hold a key in
/// `within` (the smallest and largest key looked up, as text), by the
/// column's statistics; every group without statistics, or when no range
/// is given. Keys follow the order in which cases arrive and an extract
/// sends the cases of about the last year, so the files of older extracts
/// are skipped unread: without this, every extract read the keys of every
/// stored extract before it.
fn row_groups_within<T>(
    builder: &datafusion::parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
    key_col: &str,
    within: Option<(&str, &str)>,
) -> Vec<usize> {
    let meta = builder.metadata();
    let all = (0..meta.num_row_groups()).collect();
    let Some((lo, hi)) = within else { return all };
    let Some(leaf) = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [key_col])
    else {
        return all;
    };
    (0..meta.num_row_groups())
        .filter(|&g| {
            let Some(Statistics::ByteArray(st)) = meta.row_group(g).column(leaf).statistics()
            else {
                return true;
            };
            let below = st.max_opt().is_some_and(|max| max.data() < lo.as_bytes());
            let above = st.min_opt().is_some_and(|min| min.data() > hi.as_bytes());
            !(below || above)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The ingest itself

/// Counts of one table file.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    pub file: String,
    pub rows: u64,
    pub accepted: u64,
    pub quarantined: u64,
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The extract was committed.
    Ingested {
        entry: ExtractEntry,
        tables: BTreeMap<String, TableReport>,
        quarantined: Vec<QuarantinedRow>,
        warnings: Vec<String>,
    },
    /// The identical extract was already in the store: nothing changed.
    AlreadyIngested { extract_date: NaiveDate },
}

/// What [`stage`] made of an extract folder.
pub(crate) enum Stage {
    /// Validated and written to the staging area, not yet placed.
    Written(Box<Staged>),
    /// The identical extract is already in the store.
    AlreadyIngested(NaiveDate),
}

/// An extract validated and written to the staging area.
pub(crate) struct Staged {
    pub staging: store::Staging,
    pub entry: ExtractEntry,
    pub tables: BTreeMap<String, TableReport>,
    pub quarantined: Vec<QuarantinedRow>,
    pub warnings: Vec<String>,
}

/// Reads and validates one extract folder against `catalog` (the store's
/// extracts, committed or placed by the same run) and writes its accepted
/// and quarantined rows to the staging area.
pub(crate) fn stage(
    store: &Store,
    lock: &store::StoreLock,
    catalog: &store::Catalog,
    dir: &Path,
    key: &Key,
    reference: &Reference,
) -> Result<Stage> {
    let manifest = read_manifest(dir)?;
    let mut warnings = Vec::new();
    let inputs = locate_files(dir, &mut warnings)?;
    let mut hashes = BTreeMap::new();
    for f in &inputs {
        hashes.insert(
            f.table.name().to_string(),
            (f.name.clone(), sha256_file(&f.path)?),
        );
    }

    let date = manifest.extract_date;
    if let Some(same_date) = catalog.extracts.iter().find(|e| e.extract_date == date) {
        let identical = same_date.files.len() == hashes.len()
            && hashes.iter().all(|(t, (name, sha))| {
                same_date
                    .files
                    .get(t)
                    .is_some_and(|f| &f.name == name && &f.sha256 == sha)
            });
        if identical {
            return Ok(Stage::AlreadyIngested(date));
        }
        bail!(
            "extract rejected: an extract dated {date} is already ingested with different content; \
             a correction must come as a later extract"
        );
    }
    if let Some(latest) = catalog.latest()
        && date < latest.extract_date
    {
        bail!(
            "extract rejected: its date {date} is older than the latest extract already ingested ({}); \
             extracts are ingested in date order (to add history, rebuild the store from all extracts)",
            latest.extract_date
        );
    }

    // Read everything first: any unreadable file rejects the whole extract
    // before a byte is written.
    let t = std::time::Instant::now();
    let parsed: Vec<Parsed> = inputs
        .iter()
        .map(|f| read_table(f, &mut warnings))
        .collect::<Result<_>>()?;
    tracing::debug!(elapsed = ?t.elapsed(), "read the extract's files");
    let extract_day = day_number(manifest.extract_date);
    let mut known = Known::default();
    for path in store.table_files(catalog, Table::Units, manifest.extract_date) {
        read_stored_column_pairs(&path, "unit_code", None, None, |k, _| {
            known.units.insert(k.to_string());
        })?;
    }

    let staging = store.begin(lock, manifest.extract_date)?;
    let mut tables = BTreeMap::new();
    let mut files = BTreeMap::new();
    let mut quarantined = Vec::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    // `parsed` is already in parent-first order (Table::ALL). Each table
    // is dropped once written: later tables need only its keys (`known`).
    for table_rows in parsed {
        let p = &table_rows;
        let table = p.input.table;
        let t = std::time::Instant::now();
        if table == Table::CaseEvents {
            load_stored_cases(store, catalog, manifest.extract_date, p, &mut known)?;
            tracing::debug!(elapsed = ?t.elapsed(), "looked up the stored cases");
        }
        let problems = validate(p, &known, extract_day, reference);
        tracing::debug!(table = table.name(), elapsed = ?t.elapsed(), "validated");
        let keep = BooleanArray::from(problems.iter().map(Option::is_none).collect::<Vec<_>>());
        let rows = Rows::new(p);
        let pk_idx = rows.idx(table.primary_key());
        let mut accepted = 0u64;
        for (row, pr) in problems.iter().enumerate() {
            match pr {
                None => {
                    accepted += 1;
                    let key = rows.text_at(pk_idx, row).expect("valid rows have keys");
                    match table {
                        Table::Units => {
                            known.units.insert(key.to_string());
                        }
                        Table::Cases => {
                            let at = rows.micros("received_at", row).expect("valid");
                            known.extract_cases.insert(key.to_string(), at);
                        }
                        _ => {}
                    }
                }
                Some(pr) => {
                    *reasons.entry(pr.kind.to_string()).or_default() += 1;
                    quarantined.push(QuarantinedRow {
                        table,
                        file: p.input.name.clone(),
                        line: p.lines[row],
                        primary_key: rows.text_at(pk_idx, row).map(str::to_string),
                        problem: pr.clone(),
                        links: Links::of(&rows, row),
                    });
                }
            }
        }
        if accepted > 0 {
            let t = std::time::Instant::now();
            let batch = stored_batch(p, &keep, key, extract_day)?;
            store::write_parquet(
                &staging.path(&format!("{}.parquet", table.name())),
                batch.schema(),
                &[batch],
            )?;
            tracing::debug!(table = table.name(), elapsed = ?t.elapsed(), "staged");
        }
        let report = TableReport {
            file: p.input.name.clone(),
            rows: p.rows as u64,
            accepted,
            quarantined: p.rows as u64 - accepted,
        };
        let (name, sha) = hashes[table.name()].clone();
        files.insert(
            table.name().to_string(),
            FileRecord {
                name,
                sha256: sha,
                rows: report.rows,
                accepted: report.accepted,
                quarantined: report.quarantined,
            },
        );
        tables.insert(table.name().to_string(), report);
    }
    // The keys looked up for the parsed files are checked: freed before
    // the facts are maintained, which at the national volume holds the
    // touched cases' rows in memory.
    drop(known);
    if !quarantined.is_empty() {
        let batch = quarantine_batch(&quarantined, extract_day)?;
        store::write_parquet(
            &staging.path(store::QUARANTINE_FILE),
            batch.schema(),
            &[batch],
        )?;
    }
    let entry = ExtractEntry {
        extract_date: manifest.extract_date,
        source: manifest.source.clone(),
        dir: manifest.extract_date.format("%Y-%m-%d").to_string(),
        ingested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files,
        quarantine_reasons: reasons,
    };
    Ok(Stage::Written(Box::new(Staged {
        staging,
        entry,
        tables,
        quarantined,
        warnings,
    })))
}

/// Looks up, in the stored cases, the cases this extract's events refer to
/// and that the extract itself does not carry (latest stored version wins).
fn load_stored_cases(
    store: &Store,
    catalog: &store::Catalog,
    as_of: NaiveDate,
    events: &Parsed,
    known: &mut Known,
) -> Result<()> {
    let rows = Rows::new(events);
    let ci = rows.idx("case_id");
    let needed: HashSet<&str> = (0..events.rows)
        .filter_map(|r| rows.text_at(ci, r))
        .filter(|id| !known.extract_cases.contains_key(*id))
        .collect();
    let (Some(lo), Some(hi)) = (needed.iter().min(), needed.iter().max()) else {
        return Ok(());
    };
    let within = Some((*lo, *hi));
    for path in store.table_files(catalog, Table::Cases, as_of) {
        read_stored_column_pairs(&path, "case_id", Some("received_at"), within, |k, v| {
            if needed.contains(k)
                && let Some(v) = v
            {
                known.stored_cases.insert(k.to_string(), v);
            }
        })?;
    }
    Ok(())
}

/// The extract folders under `dir`: `dir` itself when it holds a
/// `manifest.json`, else its sub-folders that do, in extract-date order.
pub fn extract_dirs(dir: &Path) -> Result<Vec<(NaiveDate, PathBuf)>> {
    if dir.join("manifest.json").exists() {
        let m = read_manifest(dir)?;
        return Ok(vec![(m.extract_date, dir.to_path_buf())]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e?.path();
        if p.join("manifest.json").exists() {
            let m = read_manifest(&p)?;
            out.push((m.extract_date, p));
        }
    }
    if out.is_empty() {
        bail!(
            "{} holds no extract (no manifest.json in it or in its sub-folders)",
            dir.display()
        );
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_are_read_only_from_row_groups_that_may_hold_them() {
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::properties::WriterProperties;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "case_id",
            DataType::Utf8,
            false,
        )]));
        let ids = ["HS01", "HS02", "HS03", "HS04", "HS05", "HS06"];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(ids.to_vec()))],
        )
        .unwrap();
        // Row groups of two keys: HS01-02, HS03-04, HS05-06.
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let read = |within| {
            let mut seen = Vec::new();
            read_stored_column_pairs(&path, "case_id", None, within, |k, _| {
                seen.push(k.to_string())
            })
            .unwrap();
            seen
        };
        assert_eq!(read(None), ids);
        assert_eq!(
            read(Some(("HS02", "HS03"))),
            ["HS01", "HS02", "HS03", "HS04"]
        );
        assert_eq!(read(Some(("HS06", "HS09"))), ["HS05", "HS06"]);
        assert!(read(Some(("HS07", "HS09"))).is_empty());
        assert!(read(Some(("A", "HS00"))).is_empty());
    }

    #[test]
    fn strict_dates_and_timestamps() {
        assert!(parse_date("2026-02-28").is_some());
        assert!(parse_date("2026-2-28").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date(" 2026-02-28").is_none());
        assert!(parse_timestamp("2026-02-28 16:45").is_some());
        assert!(parse_timestamp("2026-02-28 16:45:09").is_some());
        assert!(parse_timestamp("2026-02-28T16:45:09").is_none());
        assert!(parse_timestamp("2026-02-28 24:00").is_none());
        assert!(parse_timestamp("2026-02-28").is_none());
    }

    #[test]
    fn booleans_in_any_case() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("fAlSe"), Some(false));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool(" true"), None);
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        assert_eq!(date_from_day(day_number(d)), d);
        assert_eq!(day_number(epoch()), 0);
        assert_eq!(day_of_micros(-1), -1);
    }
}
