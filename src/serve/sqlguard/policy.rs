//! What a user query may do and what it returns: roles and the tables
//! each reads, the limits, the errors, the results.

use std::time::Duration;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Leadership,
    Inspectorate,
    Analyst,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "leadership" => Some(Role::Leadership),
            "inspectorate" => Some(Role::Inspectorate),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Leadership => "leadership",
            Role::Inspectorate => "inspectorate",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// The tables this role may query.
    pub fn tables(self) -> &'static [&'static str] {
        const SCORES: &[&str] = &[
            "league_table",
            "indicator_values",
            "provinces",
            "province_lineage",
        ];
        const ALL: &[&str] = &[
            "league_table",
            "indicator_values",
            "provinces",
            "province_lineage",
            "units",
            "reception_sessions",
            "cases",
            "case_events",
            "officials",
            "inspections",
            "stages",
            "entry_records",
            "unit_province",
            "extracts",
            "quarantine",
        ];
        match self {
            Role::Leadership => SCORES,
            _ => ALL,
        }
    }

    /// Whether denunciation summaries are visible.
    pub fn sees_denunciation_content(self) -> bool {
        matches!(self, Role::Inspectorate | Role::Admin)
    }
}

/// The bounds of one query.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_sql_bytes: usize,
    pub max_rows: usize,
    pub timeout: Duration,
    pub memory_bytes: usize,
    pub max_concurrent: usize,
    /// Parser recursion limit: how deeply expressions may nest.
    pub max_depth: usize,
    /// How many quarters and whole years back from the as-of date
    /// `league_table` and `indicator_values` carry (each costs a scoring
    /// run when the context is built).
    pub score_quarters: usize,
    pub score_years: usize,
    /// The address space a query worker process may use (server only):
    /// what bounds the memory any one query can take.
    pub worker_address_space: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sql_bytes: 64 * 1024,
            max_rows: 100_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 512 * 1024 * 1024,
            max_concurrent: 2,
            max_depth: 64,
            score_quarters: 8,
            score_years: 3,
            worker_address_space: 2 << 30,
        }
    }
}

/// Why a query was refused or stopped: every variant is the caller's to
/// fix, with a message that says how.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the SQL text is {0} bytes; the limit is {1}")]
    TooLong(usize, usize),
    #[error("only one read-only query (SELECT, WITH, EXPLAIN) is allowed: {0}")]
    NotAllowed(String),
    #[error("the query did not finish within {0:?} and was cancelled")]
    Timeout(Duration),
    #[error("the query was refused: {0}")]
    Invalid(String),
    #[error("the query failed: {0}")]
    Failed(String),
    #[error("the store cannot be queried: {0}")]
    Unavailable(String),
}

impl GuardError {
    /// The error from its kind and detail, as a worker process reports it.
    pub fn from_parts(kind: &str, detail: String) -> GuardError {
        match kind {
            "not_allowed" => GuardError::NotAllowed(detail),
            "invalid" => GuardError::Invalid(detail),
            "unavailable" => GuardError::Unavailable(detail),
            _ => GuardError::Failed(detail),
        }
    }

    /// What the error says besides its kind (the worker process sends it).
    pub fn detail(&self) -> String {
        match self {
            GuardError::NotAllowed(d)
            | GuardError::Invalid(d)
            | GuardError::Failed(d)
            | GuardError::Unavailable(d) => d.clone(),
            other => other.to_string(),
        }
    }

    /// A short machine-readable kind, for the audit log and APIs.
    pub fn kind(&self) -> &'static str {
        match self {
            GuardError::TooLong(..) => "too_long",
            GuardError::NotAllowed(_) => "not_allowed",
            GuardError::Timeout(_) => "timeout",
            GuardError::Invalid(_) => "invalid",
            GuardError::Failed(_) => "failed",
            GuardError::Unavailable(_) => "unavailable",
        }
    }
}

/// A finished query.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// More rows existed than the cap allowed.
    pub truncated: bool,
    pub elapsed: Duration,
    pub as_of: NaiveDate,
}

/// Tables with their columns and types, as a role sees them.
pub type TableList = Vec<(String, Vec<(String, String)>)>;

/// Runs `f`, turning a panic into an error the caller can answer with: a
/// bug met by one query must not drop the connection or the server, and
/// is audited as the failure it is.
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, GuardError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        GuardError::Failed(format!("internal error while {what}: {msg}"))
    })
}

/// A planned, not yet run, query.
#[derive(Debug, Clone)]
pub struct Described {
    /// The type of each `$n` parameter, in order; `None` where the plan
    /// does not tell.
    pub params: Vec<Option<DataType>>,
    pub schema: SchemaRef,
}
