//! (temporary calendar, replaced by the full implementation)
use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    Holiday,
    WorkingDay,
}

#[derive(Debug, Clone)]
pub struct CalendarEntry {
    pub date: NaiveDate,
    pub kind: DayKind,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("line {0}: {1}")]
    Line(usize, String),
}

#[derive(Debug, Clone, Copy)]
pub struct WorkingHours {
    pub morning: (NaiveTime, NaiveTime),
    pub afternoon: (NaiveTime, NaiveTime),
}

impl Default for WorkingHours {
    fn default() -> Self {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        WorkingHours {
            morning: (t(8), t(12)),
            afternoon: (t(13), t(17)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Calendar {
    entries: Vec<CalendarEntry>,
    kinds: HashMap<NaiveDate, DayKind>,
    hours: WorkingHours,
}

impl Calendar {
    pub fn from_csv_str(text: &str) -> Result<Calendar, CalendarError> {
        let mut entries = Vec::new();
        let mut kinds = HashMap::new();
        for (i, line) in text
            .trim_start_matches('\u{feff}')
            .lines()
            .enumerate()
            .skip(1)
        {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            let date: NaiveDate = f[0]
                .parse()
                .map_err(|_| CalendarError::Line(i + 1, "bad date".into()))?;
            let kind = match f.get(1).copied() {
                Some("holiday") => DayKind::Holiday,
                Some("working_day") => DayKind::WorkingDay,
                _ => return Err(CalendarError::Line(i + 1, "bad kind".into())),
            };
            if kinds.insert(date, kind).is_some_and(|k| k != kind) {
                return Err(CalendarError::Line(i + 1, "both kinds".into()));
            }
            entries.push(CalendarEntry {
                date,
                kind,
                name: f.get(2).unwrap_or(&"").to_string(),
            });
        }
        Ok(Calendar {
            entries,
            kinds,
            hours: WorkingHours::default(),
        })
    }
    pub fn bundled() -> Calendar {
        Calendar::from_csv_str("date,kind,name\n").unwrap()
    }
    pub fn with_hours(mut self, hours: WorkingHours) -> Calendar {
        self.hours = hours;
        self
    }
    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.kinds.get(&d) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::WorkingDay) => true,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }
    pub fn wd_add(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut d = d;
        let mut k = 0;
        while k < n {
            d += Duration::days(1);
            if self.is_working_day(d) {
                k += 1;
            }
        }
        d
    }
    pub fn wd_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        let mut n = 0;
        let mut d = a;
        while d < b {
            d += Duration::days(1);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }
    pub fn wd_add_days(&self, day: i32, n: u32) -> i32 {
        crate::ingest::day_number(self.wd_add(crate::ingest::date_from_day(day), n))
    }
    pub fn wd_between_days(&self, a: i32, b: i32) -> i64 {
        self.wd_between(
            crate::ingest::date_from_day(a),
            crate::ingest::date_from_day(b),
        )
    }
    pub fn cal_deadline(&self, d: NaiveDate, n: i64) -> NaiveDate {
        let mut d = d + Duration::days(n);
        while !self.is_working_day(d) {
            d += Duration::days(1);
        }
        d
    }
    fn spans(&self) -> [(NaiveTime, NaiveTime); 2] {
        [self.hours.morning, self.hours.afternoon]
    }
    pub fn wh_between(&self, t1: NaiveDateTime, t2: NaiveDateTime) -> i64 {
        let mut total = 0;
        let mut d = t1.date();
        while d <= t2.date() {
            if self.is_working_day(d) {
                for (a, b) in self.spans() {
                    let s = d.and_time(a).max(t1);
                    let e = d.and_time(b).min(t2);
                    if e > s {
                        total += (e - s).num_seconds();
                    }
                }
            }
            d += Duration::days(1);
        }
        total
    }
    pub fn wh_add(&self, t: NaiveDateTime, seconds: i64) -> NaiveDateTime {
        let mut left = seconds;
        let mut d = t.date();
        loop {
            if self.is_working_day(d) {
                for (a, b) in self.spans() {
                    let s = d.and_time(a).max(t);
                    let e = d.and_time(b);
                    if e > s {
                        let avail = (e - s).num_seconds();
                        if left <= avail {
                            return s + Duration::seconds(left);
                        }
                        left -= avail;
                    }
                }
            }
            d += Duration::days(1);
        }
    }
}
