//! Query results as rows of typed cells: what pages, downloads and the
//! plan format, independent of Arrow's column types.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Schema};
use serde::Serialize;

/// One cell of a query result, typed as the pages format it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    #[serde(serialize_with = "iso")]
    Date(NaiveDate),
}

fn iso<S: serde::Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.format("%Y-%m-%d").to_string())
}

impl Cell {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as plain text (CSV, sort keys).
    pub fn plain(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Text(s) => s.clone(),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// A query result as rows of cells.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cell of `row` in column `name` (Null when there is no column).
    pub fn get<'a>(&'a self, row: &'a [Cell], name: &str) -> &'a Cell {
        self.col(name).map(|i| &row[i]).unwrap_or(&Cell::Null)
    }

    pub fn from_batches(schema: &Schema, batches: &[RecordBatch]) -> Result<Table> {
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut rows = Vec::new();
        for b in batches {
            let cols: Vec<Vec<Cell>> = b
                .columns()
                .iter()
                .map(|c| column_cells(c.as_ref()))
                .collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                rows.push(cols.iter().map(|c| c[i].clone()).collect());
            }
        }
        Ok(Table { columns, rows })
    }
}

/// Only an analyst's cast makes a date outside years 1–9999: a result
/// holding one is an error, as Postgres answers "date out of range".
pub fn check_dates(a: &dyn Array) -> Result<()> {
    let Some(arr) = a.as_any().downcast_ref::<Date32Array>() else {
        return Ok(());
    };
    if let Some(v) = arr
        .iter()
        .flatten()
        .find(|v| crate::reference::dates::checked_date_from_day(*v).is_none())
    {
        anyhow::bail!("date out of range: day {v} from 1970-01-01 is outside years 1–9999");
    }
    Ok(())
}

fn column_cells(a: &dyn Array) -> Result<Vec<Cell>> {
    macro_rules! each {
        ($ty:ty, $f:expr) => {{
            let arr = a.as_any().downcast_ref::<$ty>().context("column type")?;
            (0..arr.len())
                .map(|i| {
                    if arr.is_null(i) {
                        Cell::Null
                    } else {
                        $f(arr.value(i))
                    }
                })
                .collect()
        }};
    }
    Ok(match a.data_type() {
        DataType::Utf8 => each!(StringArray, |v: &str| Cell::Text(v.to_string())),
        DataType::Int64 => each!(Int64Array, Cell::Int),
        DataType::Int32 => each!(Int32Array, |v: i32| Cell::Int(v as i64)),
        DataType::UInt64 => each!(UInt64Array, |v: u64| Cell::Int(v as i64)),
        DataType::UInt32 => each!(UInt32Array, |v: u32| Cell::Int(v as i64)),
        DataType::Float64 => each!(Float64Array, Cell::Float),
        DataType::Boolean => each!(BooleanArray, Cell::Bool),
        DataType::Date32 => {
            check_dates(a)?;
            each!(Date32Array, |v: i32| Cell::Date(
                crate::reference::dates::date_from_day(v)
            ))
        }
        _ => {
            // Anything else is shown as Arrow prints it.
            let casted = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            column_cells(casted.as_ref())?
        }
    })
}
