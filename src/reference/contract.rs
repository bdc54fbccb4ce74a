//! The data contract: the six extract tables, their columns, types and the
//! rules every row must keep (METHODOLOGY section 3).
//!
//! This module is the single place where the shape of an extract is written
//! down. Ingestion validates against it, the generator writes files from it,
//! and the store derives its stored schemas from it, so a change to the
//! contract is a change here and nowhere else.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The Arrow type used for every stored timestamp: local Vietnam time
/// (UTC+7) without a zone, microsecond precision.
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// The column added to every stored row: the extract it came from.
pub const EXTRACT_DATE: &str = "extract_date";

/// Pseudonymous requester reference replacing the raw identity in `cases`.
pub const REQUESTER_REF: &str = "requester_ref";

/// The raw identity columns of `cases`: read at ingestion, never stored.
pub const RAW_IDENTITY: [&str; 2] = ["requester_name", "requester_id_number"];

/// Columns whose values are never echoed in quarantine reasons or logs,
/// because they identify a requester or carry denunciation content.
pub const SENSITIVE: [&str; 4] = [
    "requester_name",
    "requester_id_number",
    "content_summary",
    "result_summary",
];

/// The day the 34-province structure came into force (Resolution 202/2025/QH15).
pub const MERGER_DATE: (i32, u32, u32) = (2025, 7, 1);

/// The logical type of a contract column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Date,
    Timestamp,
    Bool,
    Int32,
    Int64,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Text => DataType::Utf8,
            ColType::Date => DataType::Date32,
            ColType::Timestamp => TIMESTAMP,
            ColType::Bool => DataType::Boolean,
            ColType::Int32 => DataType::Int32,
            ColType::Int64 => DataType::Int64,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ColType::Text => "text",
            ColType::Date => "date (YYYY-MM-DD)",
            ColType::Timestamp => "timestamp (YYYY-MM-DD HH:MM[:SS])",
            ColType::Bool => "boolean (true/false/1/0)",
            ColType::Int32 => "32-bit integer",
            ColType::Int64 => "64-bit integer",
        }
    }
}

/// One column of an extract table and its single-column rules.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    /// Null allowed.
    pub nullable: bool,
    /// The file may leave the column out entirely (then null throughout).
    pub optional: bool,
    /// Allowed values of an enumeration (exact, case-sensitive).
    pub allowed: &'static [&'static str],
    /// Integers must be ≥ 0.
    pub non_negative: bool,
    /// A planned end date: exempt from the "not after the extract date" rule.
    pub planned_end: bool,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        optional: false,
        allowed: &[],
        non_negative: false,
        planned_end: false,
    }
}

const fn nullable(mut c: Column) -> Column {
    c.nullable = true;
    c
}

/// Nullable and may be absent from the file.
const fn optional(mut c: Column) -> Column {
    c.nullable = true;
    c.optional = true;
    c
}

const fn one_of(mut c: Column, allowed: &'static [&'static str]) -> Column {
    c.allowed = allowed;
    c
}

const fn count(name: &'static str, ty: ColType) -> Column {
    let mut c = col(name, ty);
    c.non_negative = true;
    c
}

const fn planned_end(mut c: Column) -> Column {
    c.planned_end = true;
    c.nullable = true;
    c
}

use ColType::*;

pub const LEVELS: &[&str] = &["central", "province", "local"];
pub const SESSION_KINDS: &[&str] = &["periodic", "irregular"];
pub const HOST_ROLES: &[&str] = &["head", "deputy", "officer"];
pub const CHANNELS: &[&str] = &[
    "in_person",
    "mail",
    "online_portal",
    "vssid",
    "hotline",
    "transferred_in",
];
pub const CASE_TYPES: &[&str] = &["complaint", "denunciation", "recommendation", "reflection"];
pub const COMPLEXITIES: &[&str] = &["normal", "complex", "especially_complex"];
pub const EVENT_TYPES: &[&str] = &[
    "received",
    "accepted",
    "extended",
    "transferred",
    "responded",
    "settled",
    "withdrawn",
    "reopened",
];
pub const DUTIES: &[&str] = &["reception", "case_handling", "leadership"];
pub const INSPECTION_KINDS: &[&str] = &["responsibility", "thematic", "ad_hoc"];

const UNITS: &[Column] = &[
    col("unit_code", Text),
    col("unit_name", Text),
    one_of(col("level", Text), LEVELS),
    nullable(col("province_code", Text)),
    col("valid_from", Date),
    planned_end(col("valid_to", Date)),
];

const RECEPTION_SESSIONS: &[Column] = &[
    col("session_id", Text),
    col("unit_code", Text),
    col("session_date", Date),
    one_of(col("kind", Text), SESSION_KINDS),
    one_of(col("host_role", Text), HOST_ROLES),
    col("host_ref", Text),
    count("citizens_count", Int32),
    count("cases_raised", Int32),
    nullable(col("db_entered_at", Timestamp)),
];

const CASES: &[Column] = &[
    col("case_id", Text),
    col("unit_code", Text),
    col("received_at", Timestamp),
    one_of(col("channel", Text), CHANNELS),
    one_of(col("case_type", Text), CASE_TYPES),
    nullable(col("round", Int32)),
    one_of(col("complexity", Text), COMPLEXITIES),
    col("remote_area", Bool),
    col("multi_party", Bool),
    optional(col("requester_name", Text)),
    optional(col("requester_id_number", Text)),
    optional(col("content_summary", Text)),
    optional(col("result_summary", Text)),
    count("attachments_count", Int32),
    optional(count("amount_to_recover_vnd", Int64)),
    optional(count("amount_recovered_vnd", Int64)),
    optional(col("related_case_id", Text)),
];

const CASE_EVENTS: &[Column] = &[
    col("event_id", Text),
    col("case_id", Text),
    one_of(col("event_type", Text), EVENT_TYPES),
    col("occurred_at", Timestamp),
    nullable(col("db_entered_at", Timestamp)),
];

const OFFICIALS: &[Column] = &[
    col("assignment_id", Text),
    col("official_ref", Text),
    col("unit_code", Text),
    one_of(col("duty", Text), DUTIES),
    col("assigned_from", Date),
    planned_end(col("assigned_to", Date)),
    nullable(col("account_id", Text)),
    nullable(col("account_granted_at", Timestamp)),
    nullable(col("account_revoked_at", Timestamp)),
    optional(col("last_login_at", Timestamp)),
];

const INSPECTIONS: &[Column] = &[
    col("inspection_id", Text),
    col("province_code", Text),
    one_of(col("kind", Text), INSPECTION_KINDS),
    col("started_on", Date),
    planned_end(col("ended_on", Date)),
    count("findings_count", Int32),
];

/// The six tables of an extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Units,
    ReceptionSessions,
    Cases,
    CaseEvents,
    Officials,
    Inspections,
}

impl Table {
    /// Every table, parents before children: the order of ingestion, so that
    /// references are checked against parents already validated.
    pub const ALL: [Table; 6] = [
        Table::Units,
        Table::ReceptionSessions,
        Table::Cases,
        Table::Officials,
        Table::CaseEvents,
        Table::Inspections,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Units => "units",
            Table::ReceptionSessions => "reception_sessions",
            Table::Cases => "cases",
            Table::CaseEvents => "case_events",
            Table::Officials => "officials",
            Table::Inspections => "inspections",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn primary_key(self) -> &'static str {
        self.columns()[0].name
    }

    /// The columns of the table as an extract carries them.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Units => UNITS,
            Table::ReceptionSessions => RECEPTION_SESSIONS,
            Table::Cases => CASES,
            Table::CaseEvents => CASE_EVENTS,
            Table::Officials => OFFICIALS,
            Table::Inspections => INSPECTIONS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The Arrow schema of the table in an extract (raw identity included).
    pub fn extract_schema(self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| Field::new(c.name, c.ty.arrow(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The Arrow schema of the table as stored: the raw identity columns are
    /// replaced by `requester_ref`, and every row carries its `extract_date`.
    pub fn stored_schema(self) -> SchemaRef {
        let mut fields: Vec<Field> = Vec::new();
        for c in self.columns() {
            if RAW_IDENTITY.contains(&c.name) {
                if c.name == RAW_IDENTITY[0] {
                    fields.push(Field::new(REQUESTER_REF, DataType::Utf8, true));
                }
                continue;
            }
            fields.push(Field::new(c.name, c.ty.arrow(), c.nullable));
        }
        fields.push(Field::new(EXTRACT_DATE, DataType::Date32, false));
        Arc::new(Schema::new(fields))
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a key as sent looks like a code rather than personal data:
/// ASCII letters, digits and `-_./`, at most 40 characters, at least one
/// letter and one digit or separator. A name, a bare number (an id card, a
/// phone number) or free text typed into a key does not, so it is never
/// kept beside a quarantined row nor shown in a report.
pub fn looks_like_code(s: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_./".contains(&b);
    !s.is_empty()
        && s.len() <= 40
        && s.bytes().all(allowed)
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .any(|b| b.is_ascii_digit() || b"-_./".contains(&b))
}

/// Whether a value is shaped as a province code (two digits).
pub fn looks_like_province_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_keys_come_first() {
        let keys: Vec<_> = Table::ALL.iter().map(|t| t.primary_key()).collect();
        assert_eq!(
            keys,
            [
                "unit_code",
                "session_id",
                "case_id",
                "assignment_id",
                "event_id",
                "inspection_id"
            ]
        );
    }

    #[test]
    fn stored_cases_never_hold_raw_identity() {
        let s = Table::Cases.stored_schema();
        for raw in RAW_IDENTITY {
            assert!(s.field_with_name(raw).is_err(), "{raw} must not be stored");
        }
        assert!(s.field_with_name(REQUESTER_REF).is_ok());
        assert!(s.field_with_name(EXTRACT_DATE).is_ok());
    }

    #[test]
    fn only_the_listed_columns_may_be_absent() {
        let optional: Vec<_> = Table::ALL
            .iter()
            .flat_map(|t| t.columns())
            .filter(|c| c.optional)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            optional,
            [
                "requester_name",
                "requester_id_number",
                "content_summary",
                "result_summary",
                "amount_to_recover_vnd",
                "amount_recovered_vnd",
                "related_case_id",
                "last_login_at"
            ]
        );
    }

    #[test]
    fn only_code_shaped_keys_are_kept_beside_a_quarantined_row() {
        for code in ["U1", "DV-24-001", "HS/2026/0001"] {
            assert!(looks_like_code(code), "{code}");
        }
        for not in ["079200001111", "Nguyễn Văn A", "0912 345 678", "", "ABC"] {
            assert!(!looks_like_code(not), "{not}");
        }
        assert!(looks_like_province_code("24"));
        assert!(!looks_like_province_code("079200001111"));
        assert!(!looks_like_province_code("2a"));
    }
}
