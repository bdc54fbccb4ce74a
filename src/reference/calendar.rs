//! The working-day calendar and working hours (METHODOLOGY section 4).
//!
//! The calendar file (`reference/calendar.csv`: date, kind, name, source)
//! is authoritative: it lists the observed days off themselves (a Monday
//! after a Sunday holiday included) and the swapped working Saturdays; the
//! software moves nothing. Dates it does not list are working days from
//! Monday to Friday. The shipped file covers 2020–2030: the official
//! schedules for civil servants up to mid-2026 and, after that, days
//! projected by the Labour Code 2019 Art. 111–112 rules (marked `projected`
//! in its source column, to be replaced when the government publishes the
//! yearly schedule).
//!
//! Every function answers from tables precomputed once per calendar over
//! 1990–2100 (a cumulative count of working days per day), because they run
//! on tens of millions of rows: `wd_between` is one subtraction and
//! `wd_add` one lookup.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

use crate::reference::dates::{MAX_DAY, MIN_DAY, date_from_day, day_number};

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
    #[error("calendar line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Office hours of a working day: a morning and an afternoon span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub morning: (NaiveTime, NaiveTime),
    pub afternoon: (NaiveTime, NaiveTime),
}

impl Default for WorkingHours {
    fn default() -> Self {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour");
        WorkingHours {
            morning: (t(8), t(12)),
            afternoon: (t(13), t(17)),
        }
    }
}

/// First and last day of the precomputed range.
const FIRST_YEAR: i32 = 1990;
const LAST_YEAR: i32 = 2100;

#[derive(Debug, Clone)]
pub struct Calendar {
    entries: Vec<CalendarEntry>,
    kinds: HashMap<NaiveDate, DayKind>,
    hours: WorkingHours,
    /// Day number of the first precomputed day.
    base: i32,
    /// cum[i] = working days in [base, base + i].
    cum: Vec<u32>,
    /// Day numbers of the working days, in order.
    working: Vec<i32>,
}

impl Calendar {
    pub fn from_csv_str(text: &str) -> Result<Calendar, CalendarError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut entries = Vec::new();
        let mut kinds: HashMap<NaiveDate, DayKind> = HashMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let err = |message: String| CalendarError::Line { line, message };
            let rec = rec.map_err(|e| err(e.to_string()))?;
            let date = crate::reference::dates::parse_date(rec.get(0).unwrap_or_default())
                .ok_or_else(|| {
                    err(format!(
                        "'{}' is not a date YYYY-MM-DD",
                        rec.get(0).unwrap_or_default()
                    ))
                })?;
            let kind = match rec.get(1).unwrap_or_default() {
                "holiday" => DayKind::Holiday,
                "working_day" => DayKind::WorkingDay,
                other => {
                    return Err(err(format!(
                        "kind '{other}' is neither holiday nor working_day"
                    )));
                }
            };
            match kinds.insert(date, kind) {
                Some(k) if k != kind => {
                    return Err(err(format!(
                        "{date} is listed both as a holiday and as a working day"
                    )));
                }
                Some(_) => return Err(err(format!("{date} is listed twice"))),
                None => {}
            }
            entries.push(CalendarEntry {
                date,
                kind,
                name: rec.get(2).unwrap_or_default().to_string(),
            });
        }
        Ok(Calendar::build(entries, kinds, WorkingHours::default()))
    }

    fn build(
        entries: Vec<CalendarEntry>,
        kinds: HashMap<NaiveDate, DayKind>,
        hours: WorkingHours,
    ) -> Calendar {
        let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid");
        let last = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("valid");
        let base = day_number(first);
        let mut cum = Vec::with_capacity((last - first).num_days() as usize + 1);
        let mut working = Vec::new();
        let mut n = 0u32;
        let mut d = first;
        while d <= last {
            if Self::working_by_rule(&kinds, d) {
                n += 1;
                working.push(day_number(d));
            }
            cum.push(n);
            d += Duration::days(1);
        }
        Calendar {
            entries,
            kinds,
            hours,
            base,
            cum,
            working,
        }
    }

    fn working_by_rule(kinds: &HashMap<NaiveDate, DayKind>, d: NaiveDate) -> bool {
        match kinds.get(&d) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::WorkingDay) => true,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The calendar shipped in `reference/calendar.csv`.
    pub fn bundled() -> Calendar {
        Calendar::from_csv_str(include_str!("../../reference/calendar.csv"))
            .expect("the bundled calendar is valid")
    }

    pub fn with_hours(mut self, hours: WorkingHours) -> Calendar {
        self.hours = hours;
        self
    }

    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }

    pub fn hours(&self) -> WorkingHours {
        self.hours
    }

    fn index(&self, day: i32) -> Option<usize> {
        let i = day - self.base;
        (i >= 0 && (i as usize) < self.cum.len()).then_some(i as usize)
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        Self::working_by_rule(&self.kinds, d)
    }

    /// Working days in [base, day]; only inside the precomputed range.
    fn count_to(&self, day: i32) -> Option<u32> {
        self.index(day).map(|i| self.cum[i])
    }

    /// The n-th working day strictly after `day` (day numbers); `None`
    /// when it falls outside years 1–9999.
    pub fn wd_add_days(&self, day: i32, n: u64) -> Option<i32> {
        if !(MIN_DAY..=MAX_DAY).contains(&day) {
            return None;
        }
        if n == 0 {
            return Some(day);
        }
        // n working days are at least n calendar days.
        if n > (MAX_DAY - day) as u64 {
            return None;
        }
        if let Some(c) = self.count_to(day) {
            // The (c + n)-th working day counting from the base is at index c + n - 1.
            if let Some(d) = self.working.get(c as usize + n as usize - 1) {
                return Some(*d);
            }
        }
        // Outside the table: walk, at most to the end of year 9999.
        let mut d = day;
        let mut k = 0;
        while k < n {
            d += 1;
            if d > MAX_DAY {
                return None;
            }
            if self.is_working_day(date_from_day(d)) {
                k += 1;
            }
        }
        Some(d)
    }

    pub fn wd_add(&self, d: NaiveDate, n: u32) -> NaiveDate {
        self.wd_add_days(day_number(d), n as u64)
            .map_or(NaiveDate::MAX, date_from_day)
    }

    /// Working days in (a, b]; 0 when b ≤ a (day numbers); `None` when
    /// either lies outside years 1–9999.
    pub fn wd_between_days(&self, a: i32, b: i32) -> Option<i64> {
        let range = MIN_DAY..=MAX_DAY;
        if !range.contains(&a) || !range.contains(&b) {
            return None;
        }
        if b <= a {
            return Some(0);
        }
        if let (Some(x), Some(y)) = (self.count_to(a), self.count_to(b)) {
            return Some((y - x) as i64);
        }
        let mut n = 0;
        for d in a + 1..=b {
            if self.is_working_day(date_from_day(d)) {
                n += 1;
            }
        }
        Some(n)
    }

    pub fn wd_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        self.wd_between_days(day_number(a), day_number(b))
            .unwrap_or(0)
    }

    /// d + n calendar days; when that is not a working day, the next
    /// working day (Civil Code 2015 Art. 148). `None` outside years 1–9999.
    pub fn cal_deadline_days(&self, day: i32, n: i64) -> Option<i32> {
        let target = (day as i64).checked_add(n)?;
        if !(MIN_DAY as i64..=MAX_DAY as i64).contains(&target) {
            return None;
        }
        let target = target as i32;
        if self.is_working_day(date_from_day(target)) {
            Some(target)
        } else {
            self.wd_add_days(target, 1)
        }
    }

    pub fn cal_deadline(&self, d: NaiveDate, n: i64) -> NaiveDate {
        self.cal_deadline_days(day_number(d), n)
            .map_or(NaiveDate::MAX, date_from_day)
    }

    fn spans(&self) -> [(NaiveTime, NaiveTime); 2] {
        [self.hours.morning, self.hours.afternoon]
    }

    fn seconds_per_day(&self) -> i64 {
        self.spans()
            .iter()
            .map(|(a, b)| (*b - *a).num_seconds())
            .sum()
    }

    /// Working seconds of one day in [from, to) clipped to that day.
    fn day_overlap(&self, day: NaiveDate, from: NaiveDateTime, to: NaiveDateTime) -> i64 {
        if !self.is_working_day(day) {
            return 0;
        }
        self.spans()
            .iter()
            .map(|(a, b)| {
                let s = day.and_time(*a).max(from);
                let e = day.and_time(*b).min(to);
                (e - s).num_seconds().max(0)
            })
            .sum()
    }

    /// Working time between two instants, in seconds; `None` outside
    /// years 1–9999.
    pub fn try_wh_between(&self, t1: NaiveDateTime, t2: NaiveDateTime) -> Option<i64> {
        if t2 <= t1 {
            return Some(0);
        }
        let (d1, d2) = (t1.date(), t2.date());
        if d1 == d2 {
            return Some(self.day_overlap(d1, t1, t2));
        }
        let first = self.day_overlap(d1, t1, t2);
        let last = self.day_overlap(d2, t1, t2);
        // Whole working days strictly between the two dates.
        let middle = self.wd_between_days(day_number(d1), day_number(d2) - 1)?;
        Some(first + last + middle * self.seconds_per_day())
    }

    pub fn wh_between(&self, t1: NaiveDateTime, t2: NaiveDateTime) -> i64 {
        self.try_wh_between(t1, t2).unwrap_or(0)
    }

    /// The first instant at which `seconds` of working time have elapsed
    /// after `t` (a request at 16:30 on a Friday reaches one working hour at
    /// 08:30 on the next working day); `None` past the end of year 9999.
    pub fn try_wh_add(&self, t: NaiveDateTime, seconds: i64) -> Option<NaiveDateTime> {
        let mut left = seconds.max(0);
        let mut day = day_number(t.date());
        let per_day = self.seconds_per_day();
        // At most one working day per calendar day: anything longer than
        // the days left before year 10000 cannot end inside it.
        if per_day <= 0 || left / per_day > (MAX_DAY - day) as i64 {
            return None;
        }
        // The rest of the first day.
        if self.is_working_day(t.date()) {
            for (a, b) in self.spans() {
                let s = t.date().and_time(a).max(t);
                let e = t.date().and_time(b);
                if e > s {
                    let avail = (e - s).num_seconds();
                    if left <= avail {
                        return s.checked_add_signed(Duration::seconds(left));
                    }
                    left -= avail.min(left);
                }
            }
        }
        // Whole days at once, then the spans of the day the time runs out.
        let whole = (left - 1).max(0) / per_day;
        if whole > 0 {
            day = self.wd_add_days(day, whole as u64)?;
            left -= whole * per_day;
        }
        loop {
            day = self.wd_add_days(day, 1)?;
            if left > per_day {
                left -= per_day;
                continue;
            }
            let date = date_from_day(day);
            for (a, b) in self.spans() {
                let avail = (b - a).num_seconds();
                if left <= avail {
                    return date.and_time(a).checked_add_signed(Duration::seconds(left));
                }
                left -= avail;
            }
        }
    }

    pub fn wh_add(&self, t: NaiveDateTime, seconds: i64) -> NaiveDateTime {
        self.try_wh_add(t, seconds).unwrap_or(NaiveDateTime::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: &str = "date,kind,name
2026-02-16,holiday,Tết
2026-02-17,holiday,Tết
2026-02-18,holiday,Tết
2026-02-19,holiday,Tết
2026-02-20,holiday,Tết
2026-02-28,working_day,Làm bù
2026-04-30,holiday,30/4
2026-05-01,holiday,1/5
";

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let c = Calendar::from_csv_str(TEST).unwrap();
        assert_eq!(c.wd_add(d("2026-02-12"), 10), d("2026-03-04"));
        assert_eq!(c.wd_add(d("2026-03-07"), 1), d("2026-03-09"));
        assert_eq!(c.wd_add(d("2026-02-27"), 1), d("2026-02-28"));
        assert_eq!(c.wd_between(d("2026-02-13"), d("2026-02-23")), 1);
        assert_eq!(c.wd_between(d("2026-02-23"), d("2026-02-13")), 0);
        assert_eq!(c.cal_deadline(d("2026-03-31"), 30), d("2026-05-04"));
        assert_eq!(c.cal_deadline(d("2026-01-05"), 30), d("2026-02-04"));
    }

    #[test]
    fn working_hours() {
        let c = Calendar::from_csv_str(TEST).unwrap();
        assert_eq!(c.wh_add(t("2026-03-13 16:30"), 3600), t("2026-03-16 08:30"));
        assert_eq!(c.wh_add(t("2026-03-12 16:45"), 3600), t("2026-03-13 08:45"));
        assert_eq!(c.wh_add(t("2026-03-15 10:00"), 3600), t("2026-03-16 09:00"));
        assert_eq!(c.wh_add(t("2026-03-12 12:30"), 3600), t("2026-03-12 14:00"));
        assert_eq!(c.wh_add(t("2026-03-12 17:00"), 3600), t("2026-03-13 09:00"));
        assert_eq!(c.wh_add(t("2026-03-12 11:30"), 3600), t("2026-03-12 13:30"));
        assert_eq!(c.wh_add(t("2026-02-13 16:30"), 3600), t("2026-02-23 08:30"));
        assert_eq!(
            c.wh_add(t("2026-03-12 09:00"), 20 * 3600),
            t("2026-03-16 14:00")
        );
        assert_eq!(
            c.wh_between(t("2026-03-12 16:45"), t("2026-03-13 08:45")),
            3600
        );
        assert_eq!(
            c.wh_between(t("2026-03-12 11:00"), t("2026-03-12 14:00")),
            7200
        );
        assert_eq!(
            c.wh_between(t("2026-03-13 16:00"), t("2026-03-17 09:00")),
            3600 * 10
        );
    }

    #[test]
    fn both_kinds_for_one_date_is_an_error() {
        let e = Calendar::from_csv_str(
            "date,kind,name\n2026-01-01,holiday,x\n2026-01-01,working_day,y\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 3") && e.contains("both"), "{e}");
        assert!(Calendar::from_csv_str("date,kind,name\n2026-01-01,off,x\n").is_err());
    }

    #[test]
    fn bundled_calendar_has_every_statutory_holiday() {
        let c = Calendar::bundled();
        for year in 2020..=2030 {
            let holidays: Vec<&CalendarEntry> = c
                .entries()
                .iter()
                .filter(|e| e.date.year() == year && e.kind == DayKind::Holiday)
                .collect();
            for needle in [
                "Tết Dương lịch",
                "Tết Nguyên đán",
                "Hùng Vương",
                "Chiến thắng",
                "Lao động",
                "Quốc khánh",
            ] {
                assert!(
                    holidays.iter().any(|e| e.name.contains(needle)),
                    "{year}: {needle}"
                );
            }
            let tet = holidays
                .iter()
                .filter(|e| e.name.starts_with("Tết Nguyên đán"))
                .count();
            assert_eq!(tet, 5, "{year}: five Tết days off");
        }
        // Every listed holiday is a weekday and every working day a weekend.
        for e in c.entries() {
            let weekend = matches!(e.date.weekday(), Weekday::Sat | Weekday::Sun);
            assert_eq!(e.kind == DayKind::WorkingDay, weekend, "{}", e.date);
        }
    }

    #[test]
    fn fast_paths_agree_with_walking() {
        let c = Calendar::bundled();
        let mut day = d("2020-01-01");
        while day <= d("2030-12-31") {
            for n in [1u32, 7, 10] {
                let fast = c.wd_add(day, n);
                let mut slow = day;
                let mut k = 0;
                while k < n {
                    slow += Duration::days(1);
                    if c.is_working_day(slow) {
                        k += 1;
                    }
                }
                assert_eq!(fast, slow);
                assert_eq!(c.wd_between(day, fast), n as i64);
            }
            day += Duration::days(1);
        }
    }
}
