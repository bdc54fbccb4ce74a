//! Dates as vigil writes and reads them: `YYYY-MM-DD` and
//! `YYYY-MM-DD HH:MM[:SS]` exactly, and day numbers as Arrow's Date32
//! counts them. Shared by the contract, the store, the facts and the
//! calendar, so that none of them imports another for a date.

use chrono::{NaiveDate, NaiveDateTime};

/// Day 0 of Arrow's Date32.
pub fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch")
}

/// Days since 1970-01-01, as Arrow's Date32 counts them.
pub fn day_number(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

/// The first day number vigil computes with: 0001-01-01. Dates outside
/// years 1–9999 come only from analysts' SQL (a cast of a large integer, a
/// bound parameter); every function on user values answers them with NULL
/// or an error, never a panic.
pub const MIN_DAY: i32 = -719_162;
/// The last day number vigil computes with: 9999-12-31.
pub const MAX_DAY: i32 = 2_932_896;

/// The date of a Date32 day number within years 1–9999 (stored facts
/// always are: the contract validates every date at ingest).
pub fn date_from_day(day: i32) -> NaiveDate {
    checked_date_from_day(day).unwrap_or(if day < MIN_DAY {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// The date of any Date32 day number, `None` outside years 1–9999.
pub fn checked_date_from_day(day: i32) -> Option<NaiveDate> {
    (MIN_DAY..=MAX_DAY)
        .contains(&day)
        .then(|| epoch() + chrono::Duration::days(day as i64))
}

/// `YYYY-MM-DD`, exactly.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// `YYYY-MM-DD HH:MM` or `YYYY-MM-DD HH:MM:SS`, exactly.
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if !(b.len() == 16 || b.len() == 19) || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    let date = parse_date(&s[..10])?;
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let sec = if b.len() == 19 {
        if b[16] != b':' {
            return None;
        }
        num(17..19)?
    } else {
        0
    };
    date.and_hms_opt(num(11..13)?, num(14..16)?, sec)
}

/// Dates in JSON as `YYYY-MM-DD` (`#[serde(with = "crate::reference::dates::iso")]`).
pub mod iso {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format("%Y-%m-%d").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_date(&text)
            .ok_or_else(|| D::Error::custom(format!("'{text}' is not a date YYYY-MM-DD")))
    }
}

/// Optional dates in JSON as `YYYY-MM-DD` or null.
pub mod iso_opt {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::iso::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_date(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("'{text}' is not a date YYYY-MM-DD"))
            }),
        }
    }
}
