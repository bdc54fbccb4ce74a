//! SQL functions over the working-day calendar (METHODOLOGY section 4),
//! registered in every DataFusion context that scores:
//!
//! - `wd_add(date, n)`: the n-th working day strictly after `date`;
//! - `wd_between(a, b)`: working days in (a, b], 0 when b ≤ a;
//! - `cal_deadline(date, n)`: date + n calendar days, moved to the next
//!   working day when that is not one;
//! - `wh_add(ts, seconds)`: the instant at which `seconds` of working time
//!   have elapsed after `ts`;
//! - `wh_between(t1, t2)`: seconds of working time between two instants;
//! - `is_blank(text)`: null or only whitespace (Unicode White_Space).
//!
//! They are plain vectorised loops over Arrow arrays; the calendar answers
//! each call from precomputed day tables.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::reference::calendar::Calendar;
use crate::reference::contract::TIMESTAMP;

fn arrays(args: &[ColumnarValue], types: &[DataType]) -> Result<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)?
        .into_iter()
        .zip(types)
        .map(|(a, t)| {
            if a.data_type() == t {
                Ok(a)
            } else {
                cast(&a, t).map_err(DataFusionError::from)
            }
        })
        .collect()
}

/// An array result, or a scalar when every argument was a scalar (a
/// one-row array would not match the batch it is used in).
fn finish(args: &[ColumnarValue], result: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

fn downcast<'a, T: 'static>(a: &'a ArrayRef, name: &str) -> Result<&'a T> {
    a.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DataFusionError::Internal(format!("{name}: unexpected argument type")))
}

/// The instant of a microsecond timestamp; `None` outside what chrono
/// represents (an analyst's cast of an extreme integer).
fn micros_to_time(us: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(us).map(|t| t.naive_utc())
}

/// Within years 1–9999 (all the calendar returns) this cannot overflow.
fn time_to_micros(t: NaiveDateTime) -> Option<i64> {
    Some(t.and_utc().timestamp_micros())
}

/// Builds the calendar functions over one calendar.
pub fn calendar_udfs(cal: Arc<Calendar>) -> Vec<ScalarUDF> {
    let mut out = Vec::new();

    let c = cal.clone();
    out.push(create_udf(
        "wd_add",
        vec![DataType::Date32, DataType::Int64],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Date32, DataType::Int64])?;
            let d = downcast::<Date32Array>(&a[0], "wd_add")?;
            let n = downcast::<Int64Array>(&a[1], "wd_add")?;
            let r: Date32Array = d
                .iter()
                .zip(n.iter())
                .map(|(d, n)| match (d, n) {
                    (Some(d), Some(n)) if n >= 0 => c.wd_add_days(d, n as u64),
                    _ => None,
                })
                .collect();
            finish(args, Arc::new(r))
        }),
    ));

    let c = cal.clone();
    out.push(create_udf(
        "wd_between",
        vec![DataType::Date32, DataType::Date32],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Date32, DataType::Date32])?;
            let x = downcast::<Date32Array>(&a[0], "wd_between")?;
            let y = downcast::<Date32Array>(&a[1], "wd_between")?;
            let r: Int64Array = x
                .iter()
                .zip(y.iter())
                .map(|(x, y)| c.wd_between_days(x?, y?))
                .collect();
            finish(args, Arc::new(r))
        }),
    ));

    let c = cal.clone();
    out.push(create_udf(
        "cal_deadline",
        vec![DataType::Date32, DataType::Int64],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Date32, DataType::Int64])?;
            let d = downcast::<Date32Array>(&a[0], "cal_deadline")?;
            let n = downcast::<Int64Array>(&a[1], "cal_deadline")?;
            let r: Date32Array = d
                .iter()
                .zip(n.iter())
                .map(|(d, n)| c.cal_deadline_days(d?, n?))
                .collect();
            finish(args, Arc::new(r))
        }),
    ));

    let c = cal.clone();
    out.push(create_udf(
        "wh_add",
        vec![TIMESTAMP, DataType::Int64],
        TIMESTAMP,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[TIMESTAMP, DataType::Int64])?;
            let t = downcast::<TimestampMicrosecondArray>(&a[0], "wh_add")?;
            let s = downcast::<Int64Array>(&a[1], "wh_add")?;
            let r: TimestampMicrosecondArray = t
                .iter()
                .zip(s.iter())
                .map(|(t, s)| time_to_micros(c.try_wh_add(micros_to_time(t?)?, s?)?))
                .collect();
            finish(args, Arc::new(r))
        }),
    ));

    let c = cal;
    out.push(create_udf(
        "wh_between",
        vec![TIMESTAMP, TIMESTAMP],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[TIMESTAMP, TIMESTAMP])?;
            let x = downcast::<TimestampMicrosecondArray>(&a[0], "wh_between")?;
            let y = downcast::<TimestampMicrosecondArray>(&a[1], "wh_between")?;
            let r: Int64Array = x
                .iter()
                .zip(y.iter())
                .map(|(x, y)| c.try_wh_between(micros_to_time(x?)?, micros_to_time(y?)?))
                .collect();
            finish(args, Arc::new(r))
        }),
    ));

    out.push(create_udf(
        "is_blank",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Utf8])?;
            let s = downcast::<StringArray>(&a[0], "is_blank")?;
            let r: BooleanArray = (0..s.len())
                .map(|i| Some(s.is_null(i) || s.value(i).chars().all(char::is_whitespace)))
                .collect();
            finish(args, Arc::new(r))
        }),
    ));
    out
}

/// Registers the calendar functions in a context.
pub fn register(ctx: &SessionContext, cal: Arc<Calendar>) {
    for f in calendar_udfs(cal) {
        ctx.register_udf(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;

    /// Every calendar function over the extreme values of every type it
    /// takes (what an analyst's cast can make): no panic, no endless walk,
    /// NULL where no date of years 1–9999 answers.
    #[tokio::test]
    async fn extreme_arguments_give_nulls_not_panics() {
        use crate::reference::dates::{MAX_DAY, MIN_DAY};
        let days = [
            i32::MIN,
            MIN_DAY - 1,
            MIN_DAY,
            -1,
            0,
            20_000,
            MAX_DAY,
            MAX_DAY + 1,
            i32::MAX,
        ];
        let ints = [i64::MIN, -1, 0, 1, 86_400, i64::MAX];
        let micros = [i64::MIN, -1, 0, 1_780_000_000_000_000, i64::MAX];
        let (mut d, mut n, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for (i, day) in days.iter().enumerate() {
            for (j, int) in ints.iter().enumerate() {
                d.push(*day);
                n.push(*int);
                t.push(micros[(i + j) % micros.len()]);
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Date32, true),
            Field::new("n", DataType::Int64, true),
            Field::new("t", TIMESTAMP, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Date32Array::from(d)),
                Arc::new(Int64Array::from(n)),
                Arc::new(TimestampMicrosecondArray::from(t)),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        register(&ctx, Arc::new(Calendar::bundled()));
        ctx.register_table(
            "x",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        let out = ctx
            .sql(
                "SELECT wd_add(d, n) AS a, wd_between(d, d) AS b, wd_between(arrow_cast(0, 'Date32'), d) AS c,
                        cal_deadline(d, n) AS e, wh_add(t, n) AS f, wh_between(t, arrow_cast(0, 'Timestamp(Microsecond, None)')) AS g,
                        wh_between(arrow_cast(0, 'Timestamp(Microsecond, None)'), t) AS h
                 FROM x",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows: usize = out.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, days.len() * ints.len());
        // Every date returned is a real one.
        for b in &out {
            for col in ["a", "e"] {
                let a = b.column_by_name(col).unwrap();
                let a = a.as_any().downcast_ref::<Date32Array>().unwrap();
                for v in a.iter().flatten() {
                    assert!((MIN_DAY..=MAX_DAY).contains(&v), "{col}: {v}");
                }
            }
        }
        // Out of range in, NULL out; in range still answers.
        let one = |sql: &str| {
            let ctx = ctx.clone();
            let sql = sql.to_string();
            async move {
                let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                ScalarValue::try_from_array(b[0].column(0), 0).unwrap()
            }
        };
        assert!(
            one("SELECT wd_add(arrow_cast(2147483647, 'Date32'), 1)")
                .await
                .is_null()
        );
        assert!(
            one("SELECT wd_add(DATE '2026-01-01', 9223372036854775807)")
                .await
                .is_null()
        );
        assert!(
            one("SELECT cal_deadline(DATE '2026-01-01', 9223372036854775807)")
                .await
                .is_null()
        );
        assert!(!one("SELECT wd_add(DATE '2026-01-01', 10)").await.is_null());
    }
}
