//! What vigil ships and every other part reads. This file: the 34
//! provinces in force since 2025-07-01 and the lineage of the 63 earlier
//! provinces (METHODOLOGY section 2). Beside it: the extract tables and
//! their rules ([`contract`]), working days and hours ([`calendar`]) and
//! the calendar as SQL functions ([`udf`]), every limit and weight of the
//! rules file ([`rules`]), dates and day numbers ([`dates`]).
//!
//! The files live in `reference/` and are compiled in, so a deployment never
//! depends on a file outside its own binary; `Reference::load_dir` reads an
//! edited copy instead when an operator points vigil at one.

pub mod calendar;
pub mod contract;
pub mod dates;
pub mod rules;
pub mod udf;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

use crate::reference::contract::MERGER_DATE;

const PROVINCES_CSV: &str = include_str!("../../reference/provinces.csv");
const LINEAGE_CSV: &str = include_str!("../../reference/province_lineage.csv");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormerProvince {
    pub old_code: String,
    pub old_name_vi: String,
    pub new_code: String,
}

/// Provinces and lineage, checked for consistency when loaded.
#[derive(Debug, Clone)]
pub struct Reference {
    pub provinces: Vec<Province>,
    pub lineage: Vec<FormerProvince>,
    current: BTreeSet<String>,
    old_to_new: BTreeMap<String, String>,
}

/// The first day of the 34-province structure.
pub fn merger_date() -> NaiveDate {
    let (y, m, d) = MERGER_DATE;
    NaiveDate::from_ymd_opt(y, m, d).expect("valid merger date")
}

fn records(text: &str, what: &str) -> Result<Vec<csv::StringRecord>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    rdr.records()
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("reading {what}"))
}

impl Reference {
    /// The reference data compiled into the binary.
    /// The table `province_lineage`: each earlier province and the new one
    /// it joined.
    pub fn lineage_table(&self) -> anyhow::Result<datafusion::datasource::MemTable> {
        use datafusion::arrow::array::{RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("old_code", DataType::Utf8, false),
            Field::new("old_name_vi", DataType::Utf8, false),
            Field::new("new_code", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(StringArray::from_iter_values(
                    self.lineage.iter().map(|l| &l.old_code),
                )),
                std::sync::Arc::new(StringArray::from_iter_values(
                    self.lineage.iter().map(|l| &l.old_name_vi),
                )),
                std::sync::Arc::new(StringArray::from_iter_values(
                    self.lineage.iter().map(|l| &l.new_code),
                )),
            ],
        )?;
        Ok(datafusion::datasource::MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)
    }

    pub fn bundled() -> Reference {
        Reference::parse(PROVINCES_CSV, LINEAGE_CSV).expect("bundled reference data is consistent")
    }

    /// Reads `provinces.csv` and `province_lineage.csv` from a directory.
    pub fn load_dir(dir: &Path) -> Result<Reference> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .with_context(|| format!("reading {}", dir.join(name).display()))
        };
        Reference::parse(&read("provinces.csv")?, &read("province_lineage.csv")?)
    }

    pub fn parse(provinces_csv: &str, lineage_csv: &str) -> Result<Reference> {
        let mut provinces = Vec::new();
        for r in records(provinces_csv, "provinces.csv")? {
            if r.len() < 3 {
                bail!("provinces.csv: expected province_code,name_vi,name_en");
            }
            provinces.push(Province {
                code: r[0].to_string(),
                name_vi: r[1].to_string(),
                name_en: r[2].to_string(),
            });
        }
        let current: BTreeSet<String> = provinces.iter().map(|p| p.code.clone()).collect();
        if current.len() != provinces.len() {
            bail!("provinces.csv lists a province code twice");
        }
        let mut lineage = Vec::new();
        let mut old_to_new = BTreeMap::new();
        for r in records(lineage_csv, "province_lineage.csv")? {
            if r.len() < 3 {
                bail!("province_lineage.csv: expected old_code,old_name_vi,new_code");
            }
            let f = FormerProvince {
                old_code: r[0].to_string(),
                old_name_vi: r[1].to_string(),
                new_code: r[2].to_string(),
            };
            if !current.contains(&f.new_code) {
                bail!(
                    "province_lineage.csv: {} joins {}, which is not in provinces.csv",
                    f.old_code,
                    f.new_code
                );
            }
            if old_to_new
                .insert(f.old_code.clone(), f.new_code.clone())
                .is_some()
            {
                bail!("province_lineage.csv lists {} twice", f.old_code);
            }
            lineage.push(f);
        }
        Ok(Reference {
            provinces,
            lineage,
            current,
            old_to_new,
        })
    }

    /// One of the 34 codes in force since 2025-07-01.
    pub fn is_current(&self, code: &str) -> bool {
        self.current.contains(code)
    }

    /// One of the 63 codes in force before 2025-07-01.
    pub fn is_former(&self, code: &str) -> bool {
        self.old_to_new.contains_key(code)
    }

    pub fn province(&self, code: &str) -> Option<&Province> {
        self.provinces.iter().find(|p| p.code == code)
    }

    /// The current province of a unit, given the code it carries and the
    /// day it was created: pre-merger units go through the lineage.
    pub fn current_province(&self, code: &str, valid_from: NaiveDate) -> Option<&str> {
        if valid_from < merger_date() {
            self.old_to_new.get(code).map(String::as_str)
        } else {
            self.current.get(code).map(String::as_str)
        }
    }

    /// Why a unit's province code is not acceptable, or `None` when it is
    /// (METHODOLOGY section 2).
    pub fn unit_code_problem(
        &self,
        code: &str,
        valid_from: NaiveDate,
        valid_to: Option<NaiveDate>,
    ) -> Option<String> {
        let merger = merger_date();
        if valid_from < merger && !self.is_former(code) {
            return Some(format!(
                "province_code '{code}' is not one of the 63 pre-merger codes, required for a unit valid from {valid_from} (before {merger})"
            ));
        }
        let reaches_merger = valid_to.is_none_or(|to| to >= merger);
        if reaches_merger && !self.is_current(code) {
            return Some(format!(
                "province_code '{code}' is not one of the 34 codes in force since {merger}, required for a unit still valid on or after that day"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn bundled_has_34_provinces_and_63_former() {
        let r = Reference::bundled();
        assert_eq!(r.provinces.len(), 34);
        assert_eq!(r.lineage.len(), 63);
        // Every kept code is also a former code, so old units keep resolving.
        for p in &r.provinces {
            assert!(r.is_former(&p.code), "{}", p.code);
        }
    }

    #[test]
    fn lineage_maps_merged_provinces() {
        let r = Reference::bundled();
        assert_eq!(r.current_province("02", d("2020-01-01")), Some("08"));
        assert_eq!(r.current_province("15", d("2020-01-01")), Some("15"));
        assert_eq!(r.current_province("10", d("2020-01-01")), Some("15"));
        assert_eq!(r.current_province("02", d("2025-07-01")), None);
    }

    #[test]
    fn unit_codes_follow_the_merger_rules() {
        let r = Reference::bundled();
        // Hà Giang closed before the merger: fine.
        assert!(
            r.unit_code_problem("02", d("2020-01-01"), Some(d("2025-06-30")))
                .is_none()
        );
        // Hà Giang still open after it: invalid.
        assert!(r.unit_code_problem("02", d("2020-01-01"), None).is_some());
        // Hà Nội kept its code: valid across the merger.
        assert!(r.unit_code_problem("01", d("2020-01-01"), None).is_none());
        // A new unit must carry one of the 34.
        assert!(r.unit_code_problem("02", d("2025-07-01"), None).is_some());
        assert!(r.unit_code_problem("08", d("2025-07-01"), None).is_none());
        assert!(r.unit_code_problem("99", d("2020-01-01"), None).is_some());
    }
}
