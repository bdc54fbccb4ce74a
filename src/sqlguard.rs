//! The one guarded path for user SQL. Every place an analyst types SQL
//! (`vigil sql`, `POST /api/sql`) goes through [`Guard::run`]:
//!
//! - the text is capped in length before it is parsed;
//! - DataFusion's `SQLOptions` refuse DDL, DML and statements, so there is
//!   no CREATE (EXTERNAL) TABLE, COPY, INSERT, DROP or SET; no URL or file
//!   table exists (the context never enables them) and only a curated
//!   catalog is registered, chosen by the caller's role;
//! - the parser's recursion limit bounds deeply nested expressions;
//! - execution runs on a runtime of its own (so dashboards keep their
//!   threads), under a memory pool that makes operators spill or fail, with
//!   a concurrency limit, a timeout that cancels the running plan, and a
//!   cap on the rows returned.
//!
//! What each role may read (METHODOLOGY section 3.1 and the roles of the
//! service): leadership reads the scores only; analysts the extract tables,
//! stages and scores, with the content and result summaries of
//! denunciations blanked; the inspectorate and admins everything. Nobody
//! reads raw requester identity: it is never stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::DFParserBuilder;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Semaphore};

use crate::scoring::{Engine, Period};

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

/// The guarded SQL service: contexts per (role, as-of), a runtime and a
/// concurrency limit of its own.
pub struct Guard {
    engine: Engine,
    pub limits: Limits,
    /// Always `Some` until dropped (taken to shut it down without
    /// blocking, which a runtime dropped inside another would otherwise do).
    runtime: Option<tokio::runtime::Runtime>,
    slots: Arc<Semaphore>,
    contexts: Mutex<HashMap<(Role, NaiveDate), Arc<SessionContext>>>,
}

impl Guard {
    pub fn new(engine: Engine, limits: Limits) -> anyhow::Result<Guard> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(limits.max_concurrent.clamp(1, 4))
            .thread_name("vigil-sql")
            // Planning and dropping very long expressions recurses deeply;
            // the stack is reserved, not committed, until used.
            .thread_stack_size(256 << 20)
            .on_thread_start(lower_thread_priority)
            .enable_all()
            .build()?;
        Ok(Guard {
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            engine,
            limits,
            runtime: Some(runtime),
            contexts: Mutex::new(HashMap::new()),
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the guard")
    }

    /// Forgets every context (after an ingest lands).
    pub async fn clear(&self) {
        self.contexts.lock().await.clear();
    }

    /// The tables and columns a role sees, for the console and `\d`.
    pub async fn catalog(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<(String, Vec<(String, String)>)>, GuardError> {
        let (ctx, _) = self.context(role, as_of).await?;
        let mut out = Vec::new();
        for t in role.tables() {
            if let Ok(p) = ctx.table_provider(*t).await {
                let cols = p
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().to_string()))
                    .collect();
                out.push((t.to_string(), cols));
            }
        }
        Ok(out)
    }

    async fn context(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<(Arc<SessionContext>, NaiveDate), GuardError> {
        let cat = self
            .engine
            .store
            .catalog()
            .map_err(|e| GuardError::Unavailable(format!("{e:#}")))?;
        let as_of = cat
            .effective_as_of(as_of)
            .ok_or_else(|| GuardError::Unavailable("no extract on or before that date".into()))?;
        let mut contexts = self.contexts.lock().await;
        if let Some(c) = contexts.get(&(role, as_of)) {
            return Ok((c.clone(), as_of));
        }
        let engine = self.engine.clone();
        let limits = self.limits.clone();
        // Built on the SQL runtime too: scoring the periods is heavy.
        let built = self
            .rt()
            .spawn(async move { build_context(&engine, role, as_of, &limits).await })
            .await
            .map_err(|e| GuardError::Unavailable(e.to_string()))?
            .map_err(|e| GuardError::Unavailable(format!("{e:#}")))?;
        let built = Arc::new(built);
        if contexts.len() >= 8 {
            contexts.clear();
        }
        contexts.insert((role, as_of), built.clone());
        Ok((built, as_of))
    }

    /// Checks and runs one query for a role.
    pub async fn run(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Outcome, GuardError> {
        self.run_with(role, sql, as_of, Vec::new()).await
    }

    /// Checks a query and plans it without running it: the types of its
    /// `$n` parameters (where they can be inferred) and of its result.
    /// Postgres clients describe a statement before they bind it.
    pub async fn describe(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Described, GuardError> {
        if sql.len() > self.limits.max_sql_bytes {
            return Err(GuardError::TooLong(sql.len(), self.limits.max_sql_bytes));
        }
        let (ctx, _) = self.context(role, as_of).await?;
        let sql = sql.to_string();
        let max_depth = self.limits.max_depth;
        let task = self.rt().spawn(async move {
            let df = plan(&ctx, &sql, max_depth).await?;
            let mut params: Vec<(String, Option<DataType>)> = df
                .logical_plan()
                .get_parameter_types()
                .map_err(|e| GuardError::Invalid(e.to_string()))?
                .into_iter()
                .collect();
            // `$1`, `$2`, … in their numeric order.
            params.sort_by_key(|(id, _)| id.trim_start_matches('$').parse::<usize>().unwrap_or(0));
            Ok::<_, GuardError>(Described {
                params: params.into_iter().map(|(_, t)| t).collect(),
                schema: Arc::new(df.schema().as_arrow().clone()),
            })
        });
        match tokio::time::timeout(self.limits.timeout, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(GuardError::Failed(format!("the query stopped: {join}"))),
            Err(_) => Err(GuardError::Timeout(self.limits.timeout)),
        }
    }

    /// Checks and runs one query for a role, with values bound to its
    /// `$1`, `$2`, … parameters (never pasted into the text).
    pub async fn run_with(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome, GuardError> {
        let started = Instant::now();
        if sql.len() > self.limits.max_sql_bytes {
            return Err(GuardError::TooLong(sql.len(), self.limits.max_sql_bytes));
        }
        let (ctx, as_of) = self.context(role, as_of).await?;
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| GuardError::Unavailable(e.to_string()))?;
        let sql = sql.to_string();
        let max_rows = self.limits.max_rows;
        let max_depth = self.limits.max_depth;
        // Everything from parsing on runs on the SQL runtime's threads,
        // whose stacks are sized for it.
        let task = self.rt().spawn(async move {
            let mut df = plan(&ctx, &sql, max_depth).await?;
            if !params.is_empty() {
                df = df
                    .with_param_values(params)
                    .map_err(|e| GuardError::Invalid(e.to_string()))?;
            }
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let mut stream: SendableRecordBatchStream = df
                .execute_stream()
                .await
                .map_err(|e| GuardError::Failed(e.to_string()))?;
            let mut batches = Vec::new();
            let mut rows = 0usize;
            let mut truncated = false;
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| GuardError::Failed(e.to_string()))?;
                if rows + b.num_rows() > max_rows {
                    batches.push(b.slice(0, max_rows - rows));
                    rows = max_rows;
                    truncated = true;
                    break;
                }
                rows += b.num_rows();
                batches.push(b);
            }
            Ok::<_, GuardError>((schema, batches, rows, truncated))
        });
        let abort = task.abort_handle();
        match tokio::time::timeout(self.limits.timeout, task).await {
            Ok(Ok(Ok((schema, batches, rows, truncated)))) => Ok(Outcome {
                schema,
                batches,
                rows,
                truncated,
                elapsed: started.elapsed(),
                as_of,
            }),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(join)) => Err(GuardError::Failed(format!("the query stopped: {join}"))),
            Err(_) => {
                // Dropping the task's stream cancels every operator of the plan.
                abort.abort();
                Err(GuardError::Timeout(self.limits.timeout))
            }
        }
    }
}

/// A planned, not yet run, query.
#[derive(Debug, Clone)]
pub struct Described {
    /// The type of each `$n` parameter, in order; `None` where the plan
    /// does not tell.
    pub params: Vec<Option<DataType>>,
    pub schema: SchemaRef,
}

/// The checks every user query passes before anything runs: one statement
/// within the nesting limit, then planning with DDL, DML and statements
/// refused.
async fn plan(ctx: &SessionContext, sql: &str, max_depth: usize) -> Result<DataFrame, GuardError> {
    check_single_statement(sql, max_depth)?;
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(sql, options).await.map_err(|e| {
        let msg = e.to_string();
        if msg.contains("not supported")
            || msg.contains("DDL")
            || msg.contains("DML")
            || msg.contains("Statement")
        {
            GuardError::NotAllowed(msg)
        } else {
            GuardError::Invalid(msg)
        }
    })
}

/// One statement only, parsed with the recursion limit before any
/// planning: a deeply nested expression stops here.
/// Analyst queries yield the processor to the web server: the SQL
/// runtime's threads run at a lower scheduling priority (nice 10), so on a
/// small machine a heavy ad-hoc query slows itself, not the dashboards.
/// Linux keeps a nice value per thread; elsewhere this does nothing.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's own id has no memory
    // effects; a failure only leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

fn check_single_statement(sql: &str, max_depth: usize) -> Result<(), GuardError> {
    let statements = DFParserBuilder::new(sql)
        .with_recursion_limit(max_depth)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| GuardError::Invalid(e.to_string()))?;
    if statements.len() != 1 {
        return Err(GuardError::NotAllowed(format!(
            "{} statements given",
            statements.len()
        )));
    }
    // The plan is checked again by SQLOptions; refusing by the statement's
    // kind first gives the same clear message whatever else is wrong.
    use datafusion::sql::parser::Statement as DF;
    use datafusion::sql::sqlparser::ast::Statement as SQL;
    let kind = match &statements[0] {
        DF::Statement(s) => match s.as_ref() {
            SQL::Query(_) | SQL::Explain { .. } => None,
            other => Some(
                other
                    .to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("statement")
                    .to_uppercase(),
            ),
        },
        DF::Explain(_) => None,
        DF::CreateExternalTable(_) => Some("CREATE EXTERNAL TABLE".into()),
        DF::CopyTo(_) => Some("COPY".into()),
        DF::Reset(_) => Some("RESET".into()),
    };
    match kind {
        Some(k) => Err(GuardError::NotAllowed(format!("{k} is not allowed"))),
        None => Ok(()),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The periods whose scores the SQL surface carries: the last whole
/// quarters and years before the as-of date, within the coverage.
fn score_periods(engine: &Engine, as_of: NaiveDate, limits: &Limits) -> Vec<Period> {
    let mut out = Vec::new();
    let first = engine.rules.coverage_from();
    let mut q = Period::last_complete_quarter(as_of);
    while q.start >= first && out.len() < limits.score_quarters {
        out.push(q.clone());
        q = q.previous();
    }
    let mut y = Period::parse(&chrono::Datelike::year(&as_of).to_string()).expect("a year");
    if y.end > as_of {
        y = y.previous();
    }
    let mut years = 0;
    while y.start >= first && years < limits.score_years {
        out.push(y.clone());
        y = y.previous();
        years += 1;
    }
    out
}

async fn build_context(
    engine: &Engine,
    role: Role,
    as_of: NaiveDate,
    limits: &Limits,
) -> anyhow::Result<SessionContext> {
    // The full scoring context, private to this function.
    let periods = score_periods(engine, as_of, limits);
    let (full, _) = engine.analyst_context(Some(as_of), &periods).await?;
    // The context users query: a memory pool of its own and only the
    // tables of the role.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
        .build_arc()?;
    let mut config = SessionConfig::new().with_target_partitions(2);
    config.options_mut().sql_parser.recursion_limit =
        datafusion::common::config::ConfigNonZeroUsize::try_new(limits.max_depth)?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    crate::udf::register(&ctx, engine.calendar.clone());
    for t in role.tables() {
        if *t == "cases" && !role.sees_denunciation_content() {
            let masked = full
                .sql(
                    "SELECT * REPLACE (
                        CASE WHEN case_type = 'denunciation' THEN NULL ELSE content_summary END AS content_summary,
                        CASE WHEN case_type = 'denunciation' THEN NULL ELSE result_summary END AS result_summary)
                     FROM cases",
                )
                .await?
                .into_view();
            ctx.register_table("cases", masked)?;
            continue;
        }
        let provider = full.table_provider(*t).await?;
        ctx.register_table(*t, provider)?;
    }
    // The Postgres system catalog, describing exactly the tables above:
    // Postgres clients (psql's \d, DBeaver, Metabase) list tables and
    // columns through it.
    datafusion_pg_catalog::setup_pg_catalog(
        &ctx,
        "datafusion",
        datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
    )
    .map_err(|e| anyhow::anyhow!("setting up pg_catalog: {e}"))?;
    Ok(ctx)
}
