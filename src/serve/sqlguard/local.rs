//! The guarded path inside one process: per-role contexts, the checks
//! every statement passes, execution under a memory pool, a timeout and a
//! row cap, and EXPLAIN redacted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::DFParserBuilder;
use futures::StreamExt;
use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::policy::{Described, GuardError, Limits, Outcome, Role, TableList};
use crate::score::scoring::{Engine, Period};

/// The in-process executor: contexts per (role, as-of, facts
/// generation), a runtime and a concurrency limit of its own.
pub(crate) struct Local {
    engine: Engine,
    limits: Limits,
    /// Always `Some` until dropped (taken to shut it down without
    /// blocking, which a runtime dropped inside another would otherwise do).
    runtime: Option<tokio::runtime::Runtime>,
    slots: Arc<Semaphore>,
    contexts: Mutex<HashMap<ContextKey, Arc<RoleContext>>>,
}

/// A role's context. Its scores (`league_table`, `indicator_values`) are
/// computed the first time a statement names one: scoring the recent
/// quarters and years is most of a context's cost (eleven queries, each a
/// job on a cluster), and most statements read other tables.
struct RoleContext {
    /// The context users query.
    ctx: SessionContext,
    /// The scoring context the role's tables come from, kept to score.
    full: SessionContext,
    as_of: NaiveDate,
    periods: Vec<Period>,
    scored: OnceCell<()>,
}

/// A context is valid for one role, one as-of extract and one commit of
/// the facts: a later ingest rewrites the files it read.
type ContextKey = (Role, NaiveDate, u64);

impl Local {
    pub(crate) fn new(engine: Engine, limits: Limits) -> anyhow::Result<Local> {
        // Planning and dropping very long expressions recurses deeply; the
        // stack is reserved, not committed, until used.
        Local::with_threads(engine, limits, 256 << 20, 512)
    }

    /// With thread stacks of `stack_bytes` and at most `blocking` threads
    /// for file reads: a worker process, whose address space is capped,
    /// reserves less (a stack overflow there ends the worker, not the
    /// server).
    pub(crate) fn with_threads(
        engine: Engine,
        limits: Limits,
        stack_bytes: usize,
        blocking: usize,
    ) -> anyhow::Result<Local> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(limits.max_concurrent.clamp(1, 4))
            .max_blocking_threads(blocking.max(1))
            .thread_name("vigil-sql")
            .thread_stack_size(stack_bytes)
            .on_thread_start(lower_thread_priority)
            .enable_all()
            .build()?;
        Ok(Local {
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

    pub(crate) async fn clear(&self) {
        self.contexts.lock().await.clear();
    }

    /// Builds (or finds) the context of a role and as-of.
    pub(crate) async fn warm(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<(), GuardError> {
        self.context(role, as_of).await.map(|_| ())
    }

    /// Everything a statement needs before its time starts: the checks by
    /// its kind, the role's context and, when the statement names them, the
    /// scores. Like building the context, scoring is the service's work,
    /// not the query's, so no query timeout covers it.
    pub(crate) async fn prepare(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<(), GuardError> {
        self.prepared(role, sql, as_of).await.map(|_| ())
    }

    /// [`Local::prepare`], with the context and whether the statement is an
    /// EXPLAIN.
    async fn prepared(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<(Arc<RoleContext>, bool), GuardError> {
        let checked = self.precheck(sql).await?;
        let (rc, _) = self.context(role, as_of).await?;
        if checked.names_scores {
            self.score(&rc).await?;
        }
        Ok((rc, checked.explain))
    }

    /// Scores the context's periods into its `league_table` and
    /// `indicator_values`, once; on the SQL runtime, as building it is.
    async fn score(&self, rc: &Arc<RoleContext>) -> Result<(), GuardError> {
        rc.scored
            .get_or_try_init(|| async {
                let engine = self.engine.clone();
                let rc = rc.clone();
                self.rt()
                    .spawn(async move {
                        let all = engine
                            .score_periods(&rc.full, rc.as_of, &rc.periods)
                            .await?;
                        crate::score::scoring::register_scores(&rc.ctx, &all)
                    })
                    .await
                    .map_err(|e| GuardError::Unavailable(e.to_string()))?
                    .map_err(|e| GuardError::Unavailable(format!("{e:#}")))
            })
            .await
            .map(|_| ())
    }

    pub(crate) async fn catalog(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<TableList, GuardError> {
        let (rc, _) = self.context(role, as_of).await?;
        let mut out = Vec::new();
        for t in role.tables() {
            if let Ok(p) = rc.ctx.table_provider(*t).await {
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
    ) -> Result<(Arc<RoleContext>, NaiveDate), GuardError> {
        let cat = self
            .engine
            .store
            .catalog()
            .map_err(|e| GuardError::Unavailable(format!("{e:#}")))?;
        let as_of = cat
            .effective_as_of(as_of)
            .ok_or_else(|| GuardError::Unavailable("no extract on or before that date".into()))?;
        let key = (role, as_of, cat.facts.as_ref().map_or(0, |f| f.generation));
        let mut contexts = self.contexts.lock().await;
        if let Some(c) = contexts.get(&key) {
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
        contexts.insert(key, built.clone());
        Ok((built, as_of))
    }

    /// The checks of a statement that need no context (one statement,
    /// read-only, within the nesting limit), made before a context is
    /// built or scored: a refused statement should cost neither (scoring
    /// takes seconds, more on a cluster). On the SQL runtime, whose stacks
    /// are sized for the parser. Returns whether the statement is an
    /// EXPLAIN and whether it names the scores.
    async fn precheck(&self, sql: &str) -> Result<Checked, GuardError> {
        let sql = sql.to_string();
        let max_depth = self.limits.max_depth;
        self.rt()
            .spawn(async move { check_single_statement(&sql, max_depth) })
            .await
            .map_err(|e| GuardError::Failed(format!("the query stopped: {e}")))?
    }

    pub(crate) async fn describe(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Described, GuardError> {
        self.precheck(sql).await?;
        let (rc, _) = self.context(role, as_of).await?;
        let sql = sql.to_string();
        let task = self.rt().spawn(async move {
            let df = plan(&rc.ctx, &sql).await?;
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

    pub(crate) async fn run_with(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome, GuardError> {
        let (rc, explain) = self.prepared(role, sql, as_of).await?;
        let as_of = rc.as_of;
        let started = Instant::now();
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| GuardError::Unavailable(e.to_string()))?;
        let sql = sql.to_string();
        let max_rows = self.limits.max_rows;
        // Everything from parsing on runs on the SQL runtime's threads,
        // whose stacks are sized for it.
        let task = self.rt().spawn(async move {
            let mut df = plan(&rc.ctx, &sql).await?;
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
                let mut b = b.map_err(|e| GuardError::Failed(e.to_string()))?;
                if explain {
                    b = redact_batch(b)?;
                }
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

/// Plans a statement that passed `Local::precheck`, with DDL, DML and
/// statements refused once more by `SQLOptions` (the context's parser has
/// the same nesting limit).
async fn plan(ctx: &SessionContext, sql: &str) -> Result<DataFrame, GuardError> {
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

/// What the checks before planning found out about a statement.
struct Checked {
    explain: bool,
    /// Whether the statement's text has the name of a scores table: then
    /// they are scored before it is planned. A name written otherwise
    /// (a Unicode escape) reaches a table that refuses to be read, never
    /// an empty one.
    names_scores: bool,
}

/// One statement only, parsed with the recursion limit before any
/// planning: a deeply nested expression stops here.
fn check_single_statement(sql: &str, max_depth: usize) -> Result<Checked, GuardError> {
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
    let explain = matches!(&statements[0], DF::Explain(_))
        || matches!(&statements[0], DF::Statement(s) if matches!(s.as_ref(), SQL::Explain { .. }));
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
    if let Some(k) = kind {
        return Err(GuardError::NotAllowed(format!("{k} is not allowed")));
    }
    let text = sql.to_lowercase();
    let names_scores = crate::score::scoring::SCORES_TABLES
        .iter()
        .any(|name| text.contains(name));
    Ok(Checked {
        explain,
        names_scores,
    })
}

/// An EXPLAIN as users see it: the plan's shape, not where the store
/// keeps its files nor the names of the internal tables behind the views
/// (`file_groups={…}`, `….parquet`, `*_history`, `*_facts`).
fn redact_plan(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("file_groups={") {
        out.push_str(&rest[..i]);
        let body = &rest[i + "file_groups={".len()..];
        let mut depth = 1;
        let mut end = body.len();
        for (j, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = j + 1;
                break;
            }
        }
        out.push_str("file_groups={…}");
        rest = &body[end..];
    }
    out.push_str(rest);
    let is_sep = |c: char| c.is_whitespace() || ",[](){}=:\"'".contains(c);
    let mut redacted = String::with_capacity(out.len());
    let mut word = String::new();
    let flush = |word: &mut String, redacted: &mut String| {
        let w = std::mem::take(word);
        if w.contains(".parquet") || w.contains('/') && w.len() > 1 {
            redacted.push('…');
        } else {
            // `case_facts_versions.version_from`: each dotted part on its own.
            let parts: Vec<&str> = w
                .split('.')
                .map(|p| {
                    if p.ends_with("_history") || p.contains("_facts") {
                        "store"
                    } else {
                        p
                    }
                })
                .collect();
            redacted.push_str(&parts.join("."));
        }
    };
    for c in out.chars() {
        if is_sep(c) {
            flush(&mut word, &mut redacted);
            redacted.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut redacted);
    redacted
}

/// Every text column of an EXPLAIN result redacted by [`redact_plan`].
fn redact_batch(b: RecordBatch) -> Result<RecordBatch, GuardError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    let columns: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| match c.as_any().downcast_ref::<StringArray>() {
            Some(s) => Arc::new(
                (0..s.len())
                    .map(|i| (!s.is_null(i)).then(|| redact_plan(s.value(i))))
                    .collect::<StringArray>(),
            ) as ArrayRef,
            None => c.clone(),
        })
        .collect();
    RecordBatch::try_new(b.schema(), columns).map_err(|e| GuardError::Failed(e.to_string()))
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The periods whose scores the SQL surface carries: the last whole
/// quarters and years before the as-of date, within the coverage.
fn periods_carried(engine: &Engine, as_of: NaiveDate, limits: &Limits) -> Vec<Period> {
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
) -> anyhow::Result<RoleContext> {
    // The scoring context, private to this module; the scores are made
    // from it on first use (`Local::score`).
    let (full, as_of) = engine.context(Some(as_of)).await?;
    for (name, schema) in crate::score::scoring::scores_schemas()? {
        full.register_table(name, Arc::new(NotScoredYet(schema)))?;
    }
    // The context users query: a memory pool of its own and only the
    // tables of the role.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)));
    let mut config = SessionConfig::new().with_target_partitions(2);
    config.options_mut().sql_parser.recursion_limit =
        datafusion::common::config::ConfigNonZeroUsize::try_new(limits.max_depth)?;
    // On a cluster the role's context is a cluster context too: the checks
    // of this module run here, the plan's execution there.
    let ctx = engine.session(config, runtime).await?;
    crate::reference::udf::register(&ctx, engine.calendar.clone());
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
    Ok(RoleContext {
        ctx,
        full,
        as_of,
        periods: periods_carried(engine, as_of, limits),
        scored: OnceCell::new(),
    })
}

/// A scores table before its context has scored: its schema is known (the
/// catalog lists it, statements plan against it), reading it is an error.
/// [`Local::prepare`] scores before any statement that names it is
/// planned, so only a name the check did not see reaches this.
#[derive(Debug)]
struct NotScoredYet(SchemaRef);

#[async_trait::async_trait]
impl TableProvider for NotScoredYet {
    fn schema(&self) -> SchemaRef {
        self.0.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(datafusion::error::DataFusionError::Plan(
            "the scores are not ready: name league_table or indicator_values plainly in the statement"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A store with no extract has no context to build, so only a
    /// statement that passes the checks gets as far as asking for one.
    #[test]
    fn statements_refused_by_their_kind_need_no_context() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path().join("store")).unwrap();
        let local = Local::new(Engine::bundled(store), Limits::default()).unwrap();
        let rt = current_thread();
        let run = |sql: &str| {
            rt.block_on(local.run_with(Role::Analyst, sql, None, Vec::new()))
                .unwrap_err()
        };
        for sql in [
            "CREATE TABLE x AS SELECT 1",
            "SELECT 1; SELECT 2",
            "SET x = 1",
        ] {
            assert!(matches!(run(sql), GuardError::NotAllowed(_)), "{sql}");
        }
        assert!(matches!(run("SELEC 1"), GuardError::Invalid(_)));
        assert!(matches!(run("SELECT 1"), GuardError::Unavailable(_)));
        let described = rt.block_on(local.describe(Role::Analyst, "DROP TABLE units", None));
        assert!(matches!(described, Err(GuardError::NotAllowed(_))));
    }

    /// The scores are made when a statement first names them, once, and
    /// a context read before then holds a table that refuses to be read
    /// rather than an empty one.
    #[test]
    fn scores_are_made_when_a_statement_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path().join("store")).unwrap();
        let key = crate::extract::pseudonym::Key::new(b"unit-test-key-0123456789abcdef".to_vec())
            .unwrap();
        let reference = crate::reference::Reference::bundled();
        let extracts =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/extracts");
        for d in ["2022-01-31", "2022-02-28", "2022-03-31", "2022-04-30"] {
            crate::extract::run::ingest_extract(&store, &extracts.join(d), &key, &reference)
                .unwrap();
        }
        let local = Local::new(Engine::bundled(store), Limits::default()).unwrap();
        let rt = current_thread();
        let rows = |sql: &str| {
            rt.block_on(local.run_with(Role::Analyst, sql, None, Vec::new()))
                .unwrap()
                .rows
        };
        let scored = || {
            rt.block_on(local.context(Role::Analyst, None))
                .unwrap()
                .0
                .scored
                .initialized()
        };
        assert_eq!(rows("SELECT * FROM units LIMIT 1"), 1);
        assert!(!scored());
        let (rc, _) = rt.block_on(local.context(Role::Analyst, None)).unwrap();
        let early = rt.block_on(async {
            rc.ctx
                .sql("SELECT count(*) FROM league_table")
                .await?
                .collect()
                .await
        });
        assert!(early.unwrap_err().to_string().contains("not ready"));
        // 2022-Q1 is the one whole quarter before the as-of: 34 provinces.
        assert_eq!(rows("SELECT * FROM LEAGUE_TABLE"), 34);
        assert!(scored());
        assert_eq!(
            rows("SELECT * FROM indicator_values WHERE period = '2022-Q1'"),
            34 * 13
        );
    }

    #[test]
    fn plans_shown_to_users_name_no_file_and_no_internal_table() {
        let plan = "DataSourceExec: file_groups={2 groups: [[store/facts/x/current/case_facts/all/2022.g16.parquet, b.parquet], [c.parquet]]}, projection=[version_from], file_type=parquet\n  TableScan: cases_history projection=[case_id]\nFilter: case_facts_versions.version_from <= 1";
        let r = super::redact_plan(plan);
        assert!(
            !r.contains(".parquet") && !r.contains("_history") && !r.contains("facts/"),
            "{r}"
        );
        assert!(
            r.contains("DataSourceExec: file_groups={…}, projection=[version_from]"),
            "{r}"
        );
        assert!(r.contains("TableScan: store projection=[case_id]"), "{r}");
        assert!(r.contains("Filter: store.version_from <= 1"), "{r}");
    }
}
