//! The facts: the current version of every table and the records scoring
//! counts (case progress, stages, entry records), maintained when an
//! extract commits instead of being rebuilt from the version history on
//! every read.
//!
//! Layout, inside the store's facts folder (named in `catalog.json`):
//!
//! ```text
//! current/<fact>/<province>/<bucket>.g<generation>.parquet
//! closed/<fact>/<superseded on>.g<generation>.parquet
//! ```
//!
//! - `fact` is one of [`FACTS`]; the SQL deriving each is in
//!   `queries/facts/`.
//! - Every row is one version of a fact, valid from the extract
//!   `version_from` until the extract `version_to` that superseded it (null
//!   while current). "As of extract E" is the rows with `version_from <= E`
//!   and `version_to` null or after E: exact for every committed extract,
//!   at the cost of one row per change rather than a copy per extract.
//! - `current/` holds the versions still current, by province (`_none`
//!   for central units, `all` for the small tables) and a bucket of the
//!   row's date (see [`layout_for`]), sorted by province and date; scoring
//!   as of the latest extract reads nothing else. `closed/` holds, per
//!   extract, the versions it superseded; an earlier as-of adds only the
//!   closed files of later extracts.
//! - A file an ingest changes is written again under the new generation;
//!   readers take, per slot (the path without the generation), the file of
//!   the highest generation the catalog has committed, so files of a killed
//!   ingest are never read and the catalog replacement stays the one commit
//!   point.
//! - `vigil_hash` (128 bits of SHA-256 over the row's content) lets
//!   maintenance tell a changed fact from one re-sent unchanged, which then
//!   keeps its version.
//!
//! Maintenance recomputes only what the extract touched: the cases it sends
//! or whose events it sends (before and after an event moves), the sessions
//! it sends, and everything of a unit whose row changed.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, FixedSizeBinaryArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use sha2::{Digest, Sha256};

mod pending;
mod slot;
mod version;

pub use pending::Pending;
use pending::PendingFact;
use version::{HashMapByPrefix, HashSetByPrefix, VersionHash, hash_column, hashes_in, row_hashes};

use crate::reference::Reference;
use crate::reference::calendar::Calendar;
use crate::reference::contract::Table;
use crate::reference::dates::day_number;
use crate::reference::rules::Rules;
use crate::store::{Catalog, ExtractEntry, FactsState, Layout, Store, StoreLock, failpoint};

/// The version of how facts are written and compared; part of the
/// fingerprint, so that facts written otherwise are rebuilt.
const FORMAT: &str = "vigil-facts-2";

/// Columns every fact row carries besides its content.
pub const VALID_FROM: &str = "version_from";
pub const VALID_TO: &str = "version_to";
pub const HASH: &str = "vigil_hash";

/// What the facts are derived with: a change to any of it changes the
/// fingerprint, and facts of another fingerprint are rebuilt, never mixed.
#[derive(Clone)]
pub struct Derivation {
    pub rules: Rules,
    pub calendar: Arc<Calendar>,
    pub reference: Reference,
}

impl Derivation {
    /// The bundled rules, calendar and reference data.
    pub fn bundled() -> Derivation {
        let rules = Rules::bundled();
        let calendar = rules.shipped_calendar();
        Derivation {
            rules,
            calendar: Arc::new(calendar),
            reference: Reference::bundled(),
        }
    }

    /// SHA-256 over everything the derivations read besides the data: the
    /// format of the facts, the limits of the rules file, the calendar's
    /// days and hours, the lineage of provinces, and the SQL of
    /// `queries/facts` and the views it uses.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update(format!("{:?}", self.rules.sql_limits()).as_bytes());
        for e in self.calendar.entries() {
            h.update(format!("{}|{:?};", e.date, e.kind).as_bytes());
        }
        h.update(format!("{:?}", self.calendar.hours()).as_bytes());
        for l in &self.reference.lineage {
            h.update(format!("{}>{};", l.old_code, l.new_code).as_bytes());
        }
        for f in &FACTS {
            h.update(f.sql.as_bytes());
        }
        for q in DERIVATION_VIEWS.iter().chain(&TOUCH_QUERIES) {
            h.update(q.1.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Calendar functions, `rules` and `province_lineage`.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        crate::reference::udf::register(ctx, self.calendar.clone());
        ctx.register_table("rules", Arc::new(self.rules.sql_table()?))?;
        ctx.register_table(
            "province_lineage",
            Arc::new(self.reference.lineage_table()?),
        )?;
        Ok(())
    }
}

/// Which entities a fact's rows belong to, and so which of them an extract
/// touches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The rows the extract sends for this table.
    Sent(Table),
    Cases,
    Sessions,
}

/// One maintained fact.
pub struct Fact {
    pub name: &'static str,
    /// The column naming the entity whose rows are recomputed together.
    entity: &'static str,
    scope: Scope,
    /// Partitioned by `province_code` when true; one partition otherwise.
    by_province: bool,
    /// The date column each file is sorted by.
    sort: Option<&'static str>,
    /// The raw table whose current rows the fact carries, if any.
    pub carries: Option<Table>,
    sql: &'static str,
}

macro_rules! fact_sql {
    ($file:literal) => {
        include_str!(concat!("../../queries/facts/", $file))
    };
}

/// Every fact, in maintenance order: units first (a changed unit touches
/// its cases and sessions).
pub const FACTS: [Fact; 7] = [
    Fact {
        name: "unit_facts",
        entity: "unit_code",
        scope: Scope::Sent(Table::Units),
        by_province: false,
        sort: None,
        carries: Some(Table::Units),
        sql: fact_sql!("unit_facts.sql"),
    },
    Fact {
        name: "official_facts",
        entity: "assignment_id",
        scope: Scope::Sent(Table::Officials),
        by_province: false,
        sort: None,
        carries: Some(Table::Officials),
        sql: fact_sql!("official_facts.sql"),
    },
    Fact {
        name: "inspection_facts",
        entity: "inspection_id",
        scope: Scope::Sent(Table::Inspections),
        by_province: false,
        sort: None,
        carries: Some(Table::Inspections),
        sql: fact_sql!("inspection_facts.sql"),
    },
    Fact {
        name: "session_facts",
        entity: "session_id",
        scope: Scope::Sessions,
        by_province: true,
        sort: Some("session_date"),
        carries: Some(Table::ReceptionSessions),
        sql: fact_sql!("session_facts.sql"),
    },
    Fact {
        name: "case_facts",
        entity: "case_id",
        scope: Scope::Cases,
        by_province: true,
        sort: Some("received_at"),
        carries: Some(Table::Cases),
        sql: fact_sql!("case_facts.sql"),
    },
    Fact {
        name: "event_facts",
        entity: "case_id",
        scope: Scope::Cases,
        by_province: true,
        sort: Some("occurred_at"),
        carries: Some(Table::CaseEvents),
        sql: fact_sql!("event_facts.sql"),
    },
    Fact {
        name: "stage_facts",
        entity: "case_id",
        scope: Scope::Cases,
        by_province: true,
        sort: Some("deadline"),
        carries: None,
        sql: fact_sql!("stage_facts.sql"),
    },
];

/// Views the derivations read, defined over the touched rows, in order.
const DERIVATION_VIEWS: [(&str, &str); 3] = [
    (
        "unit_province",
        include_str!("../../queries/unit_province.sql"),
    ),
    (
        "case_progress",
        include_str!("../../queries/case_progress.sql"),
    ),
    ("stages", include_str!("../../queries/stages.sql")),
];

/// Touched rows kept in memory, and the last fact (in [`FACTS`] order)
/// that reads them: the events are the largest, and the stages, maintained
/// last, read the cases and their progress only.
const LAST_READ_BY: [(&str, &str); 1] = [("case_events", "event_facts")];

/// What an extract touches, computed in this order.
const TOUCH_QUERIES: [(&str, &str); 3] = [
    ("changed_units", fact_sql!("changed_units.sql")),
    ("touched_cases", fact_sql!("touched_cases.sql")),
    ("touched_sessions", fact_sql!("touched_sessions.sql")),
];

fn fact_of(table: Table) -> &'static Fact {
    FACTS
        .iter()
        .find(|f| f.carries == Some(table))
        .expect("every table is carried by a fact")
}

// ---------------------------------------------------------------------------
// Files

/// The committed file of each slot: a slot is a file's path inside the
/// facts folder without its generation (`current/stage_facts/01/2026q3`,
/// `closed/stage_facts/2026-10-31`).
#[derive(Default)]
struct FileIndex {
    files: BTreeMap<String, (u64, PathBuf)>,
}

/// The slot and generation of a file name `<slot>.g<generation>.parquet`.
fn parse_file_name(name: &str) -> Option<(&str, u64)> {
    let stem = name.strip_suffix(".parquet")?;
    let (slot, generation) = stem.rsplit_once(".g")?;
    Some((slot, generation.parse().ok()?))
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if !d.exists() {
            continue;
        }
        for e in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

impl FileIndex {
    /// Files of generations up to `committed`; with `stale`, collects the
    /// others: superseded (with the file that superseded it) or written by
    /// an ingest that never committed (with none).
    fn load(dir: &Path, committed: u64, mut stale: Option<&mut Vec<Stale>>) -> Result<FileIndex> {
        let mut idx = FileIndex::default();
        for path in files_under(dir)? {
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            let Some((slot, g)) = parse_file_name(&rel) else {
                continue;
            };
            let superseded = if g > committed {
                Some((path, None))
            } else {
                match idx.files.get(slot) {
                    Some((og, newer)) if *og > g => Some((path, Some(newer.clone()))),
                    _ => idx
                        .files
                        .insert(slot.to_string(), (g, path.clone()))
                        .map(|(_, old)| (old, Some(path))),
                }
            };
            if let (Some(s), Some(old)) = (stale.as_deref_mut(), superseded) {
                s.push(old);
            }
        }
        Ok(idx)
    }

    /// The current-tier files of a fact.
    fn current(&self, fact: &str) -> Vec<PathBuf> {
        let prefix = format!("{CURRENT}/{fact}/");
        self.files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, (_, p))| p.clone())
            .collect()
    }

    /// The closed-tier files of a fact holding versions still valid at
    /// `as_of` (closed by a later extract).
    fn closed_after(&self, fact: &str, as_of: NaiveDate) -> Vec<PathBuf> {
        let prefix = format!("{CLOSED}/{fact}/");
        self.files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| {
                crate::reference::dates::parse_date(&k[prefix.len()..]).is_some_and(|d| d > as_of)
            })
            .map(|(_, (_, p))| p.clone())
            .collect()
    }

    fn get(&self, slot: &str) -> Option<&Path> {
        self.files.get(slot).map(|(_, p)| p.as_path())
    }
}

/// The two tiers: versions still current, by fact, province and quarter;
/// versions superseded, by fact and the extract that superseded them.
const CURRENT: &str = "current";
const CLOSED: &str = "closed";

/// A fact file no committed generation reads, and the file that
/// superseded it (none: its generation was never committed).
type Stale = (PathBuf, Option<PathBuf>);

/// How long a superseded fact file stays after the file that replaced it
/// was written: a reader that took the catalog just before that commit
/// (a server building a context, an analyst's query of up to its timeout)
/// still finds every file its catalog names.
pub const SUPERSEDED_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes fact files no reader needs: those of generations never
/// committed, and those superseded by a committed generation written more
/// than [`SUPERSEDED_GRACE`] ago.
pub fn remove_stale(dir: &Path, committed: u64) -> Result<()> {
    let mut stale = Vec::new();
    FileIndex::load(dir, committed, Some(&mut stale))?;
    let now = std::time::SystemTime::now();
    let aged = |by: &Path| {
        fs::metadata(by)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > SUPERSEDED_GRACE)
    };
    for (p, by) in stale {
        if by.as_deref().is_none_or(aged) {
            fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

fn writer_properties() -> WriterProperties {
    // Row groups of 128 k rows with page statistics: a period's rows can be
    // skipped by their dates. LZ4: every ingest writes many of these files
    // again, and zstd made a compression context for every page.
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(1 << 17))
        .build()
}

fn write_file(path: &Path, batch: &RecordBatch) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(writer_properties()))?;
    w.write(batch)?;
    // Made durable together by `sync_filesystem` before the commit: one
    // flush instead of one per file.
    w.into_inner()?;
    Ok(())
}

/// Flushes every file written under `dir` (and its folders) to disk.
fn sync_filesystem(dir: &Path) -> Result<()> {
    let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs takes an open descriptor and only flushes.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("flushing {}", dir.display()));
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        f.sync_all()?;
        for e in files_under(dir)? {
            File::open(&e)?.sync_all()?;
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(1 << 16)
        .build()?;
    let schema = datafusion::arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((schema, batches))
}

fn file_schema(path: &Path) -> Result<SchemaRef> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .schema()
        .clone())
}

fn date_sql(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// Registers `name` over the files with the schema they were written with,
/// or as an empty table of `schema` when there are none.
async fn register_versions(
    ctx: &SessionContext,
    name: &str,
    files: &[PathBuf],
    schema: Option<SchemaRef>,
) -> Result<()> {
    let schema = match files.first() {
        Some(first) => file_schema(first)?,
        None => schema.ok_or_else(|| anyhow!("{name}: no schema"))?,
    };
    crate::store::register_files(ctx, name, schema, files).await
}

fn column_list(schema: &Schema, prefix: &str) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{prefix}\"{}\"", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// Reading the facts

/// Registers every fact as of `as_of` (`<fact>`, over `<fact>_versions`),
/// and the views scoring and analysts read: the six tables by their own
/// names, `case_progress`, `stages` and `entry_records`.
pub async fn register(
    ctx: &SessionContext,
    dir: &Path,
    generation: u64,
    as_of: NaiveDate,
    derivation: &Derivation,
) -> Result<()> {
    let idx = FileIndex::load(dir, generation, None)?;
    let mut schemas = None;
    for fact in &FACTS {
        let mut files = idx.current(fact.name);
        files.extend(idx.closed_after(fact.name, as_of));
        let schema = if files.is_empty() {
            if schemas.is_none() {
                schemas = Some(fact_schemas(derivation).await?);
            }
            schemas.as_ref().and_then(|s| s.get(fact.name).cloned())
        } else {
            None
        };
        let versions = format!("{}_versions", fact.name);
        register_versions(ctx, &versions, &files, schema).await?;
        ctx.sql(&format!(
            "CREATE VIEW {} AS SELECT * FROM {versions} \
             WHERE {VALID_FROM} <= {d} AND ({VALID_TO} IS NULL OR {VALID_TO} > {d})",
            fact.name,
            d = date_sql(as_of)
        ))
        .await?;
    }
    for table in Table::ALL {
        ctx.sql(&format!(
            "CREATE VIEW {} AS SELECT {} FROM {}",
            table.name(),
            column_list(&table.stored_schema(), ""),
            fact_of(table).name
        ))
        .await?;
    }
    for (name, sql) in READ_VIEWS {
        ctx.sql(&format!("CREATE VIEW {name} AS {sql}"))
            .await
            .with_context(|| format!("the view {name}"))?;
    }
    Ok(())
}

/// Views over the facts with the names and columns the counting queries,
/// the evidence and analysts read.
const READ_VIEWS: [(&str, &str); 3] = [
    (
        "case_progress",
        "SELECT case_id, acceptance_done, response_done, settlement_done, vssid_done, \
                first_accepted, first_settled, extensions_filed \
         FROM case_facts WHERE has_progress",
    ),
    (
        "stages",
        "SELECT case_id, unit_code, province_code, case_type, stage, start_date, deadline, \
                deadline_at, completed_at, completed_date, on_time, extensions_counted \
         FROM stage_facts",
    ),
    (
        "entry_records",
        include_str!("../../queries/entry_records.sql"),
    ),
];

/// The SQL of the views [`register`] defines over the facts.
pub fn read_view_sql() -> impl Iterator<Item = &'static str> {
    READ_VIEWS.iter().map(|v| v.1)
}

/// The schema of every fact, from planning its SQL over empty tables.
async fn fact_schemas(derivation: &Derivation) -> Result<BTreeMap<&'static str, SchemaRef>> {
    let m = Maintenance::prepare(
        derivation,
        &FileIndex::default(),
        &Sources::default(),
        Layout::default(),
        &Pending::default(),
    )
    .await?;
    m.touch_units().await?;
    let mut out = BTreeMap::new();
    for fact in &FACTS {
        let df = m.ctx.sql(fact.sql).await?;
        out.insert(fact.name, fact_schema(df.schema().as_arrow()));
    }
    Ok(out)
}

/// A fact's stored schema: its content, every column nullable (the same
/// content may come from a strict extract file or a lenient view), and the
/// version columns.
fn fact_schema(content: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = content
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new(VALID_FROM, DataType::Date32, false));
    fields.push(Field::new(VALID_TO, DataType::Date32, true));
    fields.push(Field::new(HASH, DataType::FixedSizeBinary(16), false));
    Arc::new(Schema::new(fields))
}

// ---------------------------------------------------------------------------
// Maintaining the facts

/// The accepted rows of one extract, per table (a table the extract lacks
/// has none), and how many there are.
#[derive(Default)]
pub struct Sources {
    pub files: BTreeMap<&'static str, PathBuf>,
    pub rows: u64,
}

/// How the current tier is split, chosen from the rows per extract when
/// a facts folder is created (and again by every rebuild). An ingest writes
/// again every current-tier file its changes fall in, and most changes fall
/// in recent dates; a finer split writes less but opens more files.
///
/// - under 20,000 rows an extract (sample and test data): one file per
///   fact and year of the row's date, rows sorted by province and date, so
///   each province still has row groups of its own;
/// - up to 250,000 (about the real national volume): one file per province
///   and year of the row's date;
/// - above (several times the real volume): one file per province and
///   quarter.
pub fn layout_for(rows_per_extract: u64) -> Layout {
    match rows_per_extract {
        0..20_000 => Layout::Single,
        20_000..250_000 => Layout::Year,
        _ => Layout::Quarter,
    }
}

/// One extract's maintenance: a context with the extract's rows (`new_*`),
/// the current facts before it (`<fact>_prior`, `prior_*`) and the views
/// the derivations read.
struct Maintenance {
    ctx: SessionContext,
    layout: Layout,
}

impl Maintenance {
    async fn prepare(
        d: &Derivation,
        idx: &FileIndex,
        sources: &Sources,
        layout: Layout,
        pending: &Pending,
    ) -> Result<Maintenance> {
        // Filters pushed into the Parquet scans: the touched entities are a
        // small part of the facts, and a scan that decodes the key column
        // first can skip the other columns of every row that is not one.
        let mut config = datafusion::prelude::SessionConfig::new();
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        let ctx = SessionContext::new_with_config(config);
        d.register(&ctx)?;
        for table in Table::ALL {
            let name = format!("new_{}", table.name());
            let files: Vec<PathBuf> = sources
                .files
                .get(table.name())
                .cloned()
                .into_iter()
                .collect();
            register_versions(&ctx, &name, &files, Some(table.stored_schema())).await?;
        }
        for fact in &FACTS {
            let files = idx.current(fact.name);
            let waiting = pending.get(fact.name);
            if files.is_empty() && waiting.is_none_or(|p| p.added.is_empty()) {
                if let Some(t) = fact.carries {
                    let empty = MemTable::try_new(t.stored_schema(), vec![vec![]])?;
                    ctx.register_table(format!("prior_{}", t.name()), Arc::new(empty))?;
                }
                continue;
            }
            register_prior(&ctx, fact, &files, waiting).await?;
            if let Some(t) = fact.carries {
                prior_view(&ctx, t, "").await?;
            }
        }
        // The small tables, whole: the derivations join them.
        for table in [Table::Units, Table::Officials, Table::Inspections] {
            current_view(&ctx, table).await?;
        }
        ctx.sql(&format!(
            "CREATE VIEW unit_province AS {}",
            DERIVATION_VIEWS[0].1
        ))
        .await?;
        Ok(Maintenance { ctx, layout })
    }

    /// Registers the units whose province may have changed, the touched
    /// cases and sessions, and the views over them.
    async fn touch_units(&self) -> Result<()> {
        // `touched_cases` reads the prior events only to find those the
        // extract sends again: the ones in the range of its event ids.
        if self.ctx.table_exist("event_facts_prior")? {
            let (lo, hi) = key_range(
                &self.ctx,
                "event_id",
                "SELECT event_id FROM new_case_events",
            )
            .await?;
            prior_view(
                &self.ctx,
                Table::CaseEvents,
                &format!(" WHERE event_id BETWEEN {lo} AND {hi}"),
            )
            .await?;
        }
        for (name, sql) in TOUCH_QUERIES {
            let t = std::time::Instant::now();
            let df = self.ctx.sql(sql).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.with_context(|| name.to_string())?;
            self.ctx
                .register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
            tracing::debug!(query = name, elapsed = ?t.elapsed(), "touch query");
        }
        for fact in FACTS.iter().filter(|f| f.carries.is_some()) {
            self.gather(fact).await?;
        }
        // Each of these reads the extract's rows and the gathered prior
        // rows, both of touched entities only (every entity the extract
        // sends is touched, and `gather` read the touched ones): no
        // further restriction to the touched entities is needed.
        for table in [Table::Cases, Table::CaseEvents, Table::ReceptionSessions] {
            current_view(&self.ctx, table).await?;
        }
        // Several facts read these: computed once, over the touched rows
        // only (a small part of the store). The derivation views are
        // defined after, as a view reads the tables it was defined over.
        keep_in_memory(&self.ctx, "unit_province").await?;
        for table in [Table::Cases, Table::CaseEvents, Table::ReceptionSessions] {
            keep_in_memory(&self.ctx, table.name()).await?;
            // Assembled into the table above: what `gather` read of it is
            // no longer needed, and goes before the next is assembled.
            self.ctx
                .deregister_table(format!("prior_{}", table.name()).as_str())?;
        }
        for (name, sql) in &DERIVATION_VIEWS[1..] {
            self.ctx
                .sql(&format!("CREATE VIEW {name} AS {sql}"))
                .await
                .with_context(|| format!("queries/{name}.sql"))?;
        }
        keep_in_memory(&self.ctx, "case_progress").await?;
        Ok(())
    }

    /// The entities of `fact` the extract touches, as a SQL subquery.
    fn touched(fact: &Fact) -> String {
        match fact.scope {
            Scope::Sent(t) => format!("SELECT \"{}\" FROM new_{}", fact.entity, t.name()),
            Scope::Cases => "SELECT case_id FROM touched_cases".to_string(),
            Scope::Sessions => "SELECT session_id FROM touched_sessions".to_string(),
        }
    }

    /// The SQL of the touched entities' current versions of `fact`, with
    /// the columns that place a version in its slot (`vigil_part`,
    /// `vigil_day`) and its hash, and the given columns before them.
    async fn touched_versions(&self, fact: &Fact, columns: &str) -> Result<String> {
        let part = if fact.by_province {
            "province_code"
        } else {
            "CAST(NULL AS VARCHAR)"
        };
        let day = fact
            .sort
            .map(|c| format!("CAST(\"{c}\" AS DATE)"))
            .unwrap_or_else(|| "CAST(NULL AS DATE)".to_string());
        let e = fact.entity;
        let touched = Maintenance::touched(fact);
        let (lo, hi) = key_range(&self.ctx, e, &touched).await?;
        Ok(format!(
            "SELECT {columns}{part} AS vigil_part, {day} AS vigil_day, {HASH}, {VALID_FROM} \
             FROM {}_prior WHERE \"{e}\" BETWEEN {lo} AND {hi} AND \"{e}\" IN ({touched})",
            fact.name,
        ))
    }

    /// Reads the touched entities' current versions of a fact that
    /// carries a table once, into memory (`<fact>_touched`): the prior rows
    /// the current rows are assembled from (`prior_<table>` is redefined
    /// over them), and the slots and hashes [`Self::prior_versions`]
    /// compares the derived rows with. Reading the tier once instead of
    /// twice spares a pass over every key of the largest facts.
    async fn gather(&self, fact: &Fact) -> Result<()> {
        let (Some(table), Scope::Cases | Scope::Sessions) = (fact.carries, &fact.scope) else {
            return Ok(());
        };
        if !self
            .ctx
            .table_exist(format!("{}_prior", fact.name).as_str())?
        {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let cols = column_list(&table.stored_schema(), "");
        let df = self
            .ctx
            .sql(&self.touched_versions(fact, &format!("{cols}, ")).await?)
            .await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .with_context(|| format!("reading the touched {}", fact.name))?;
        // Two tables over the same arrays: the carried columns, dropped once
        // the current rows are assembled, and the four that place and
        // identify a version, kept until the fact is maintained.
        let n = table.stored_schema().fields().len();
        let split = |idx: Vec<usize>| -> Result<Arc<MemTable>> {
            let schema = Arc::new(schema.project(&idx)?);
            let parts = batches
                .iter()
                .map(|b| b.project(&idx))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Arc::new(MemTable::try_new(schema, vec![parts])?))
        };
        self.ctx.register_table(
            format!("{}_touched", fact.name),
            split(vec![n, n + 1, n + 2, n + 3])?,
        )?;
        let prior = format!("prior_{}", table.name());
        self.ctx.deregister_table(prior.as_str())?;
        self.ctx.register_table(prior, split((0..n).collect())?)?;
        tracing::debug!(fact = fact.name, elapsed = ?t.elapsed(), "gathered");
        Ok(())
    }

    /// Drops what [`Self::gather`] kept of `fact` once it is maintained,
    /// and the touched rows no later fact reads ([`LAST_READ_BY`]).
    fn release(&self, fact: &Fact) -> Result<()> {
        self.ctx
            .deregister_table(format!("{}_touched", fact.name).as_str())?;
        for (table, last) in LAST_READ_BY {
            if last == fact.name {
                self.ctx.deregister_table(table)?;
            }
        }
        Ok(())
    }

    /// The current versions of the touched entities: per row its slot's
    /// columns (`vigil_part`, `vigil_day`), hash and first day.
    async fn prior_versions(&self, fact: &Fact) -> Result<Vec<RecordBatch>> {
        let touched = format!("{}_touched", fact.name);
        let sql = if self.ctx.table_exist(touched.as_str())? {
            format!("SELECT vigil_part, vigil_day, {HASH}, {VALID_FROM} FROM {touched}")
        } else if self
            .ctx
            .table_exist(format!("{}_prior", fact.name).as_str())?
        {
            self.touched_versions(fact, "").await?
        } else {
            return Ok(Vec::new());
        };
        Ok(self.ctx.sql(&sql).await?.collect().await?)
    }
}

/// The versions of `prior` (from [`Maintenance::prior_versions`]) whose
/// hash is not in `derived`, as (slot, hash, first day): those the
/// extract closes. Slots are worked out for these only, a small part.
fn closing_versions(
    fact: &Fact,
    layout: Layout,
    prior: &[RecordBatch],
    derived: &HashSetByPrefix<VersionHash>,
) -> Result<Vec<(Slot, VersionHash, i32)>> {
    let mut out = Vec::new();
    for b in prior {
        let hashes = hash_column(b, 2)?;
        let goes: BooleanArray = (0..b.num_rows())
            .map(|i| Some(!derived.contains(hashes.value(i))))
            .collect();
        if goes.true_count() == 0 {
            continue;
        }
        let b = filter_record_batch(b, &goes)?;
        let from = b
            .column(3)
            .as_any()
            .downcast_ref::<Date32Array>()
            .context("version_from")?;
        let slots = slots(fact, layout, b.column(0), b.column(1))?;
        for ((slot, h), from) in slots
            .into_iter()
            .zip(hashes_in(hash_column(&b, 2)?))
            .zip(from.values())
        {
            out.push((slot, h, *from));
        }
    }
    Ok(out)
}

/// Registers `<fact>_prior`, the current versions before the extract:
/// the committed files, less the versions the extracts maintained since
/// (and not yet written) closed, plus those they added.
async fn register_prior(
    ctx: &SessionContext,
    fact: &Fact,
    files: &[PathBuf],
    waiting: Option<&PendingFact>,
) -> Result<()> {
    let prior = format!("{}_prior", fact.name);
    let Some(waiting) = waiting else {
        return register_versions(ctx, &prior, files, None).await;
    };
    let mut parts = Vec::new();
    if !files.is_empty() {
        let stored = format!("{}_committed", fact.name);
        register_versions(ctx, &stored, files, None).await?;
        parts.push(match waiting.closing.is_empty() {
            true => format!("SELECT * FROM {stored}"),
            false => {
                let open = format!("{}_still_open", fact.name);
                ctx.register_udf(waiting.still_open_udf(&open));
                format!("SELECT * FROM {stored} WHERE {open}({HASH}, {VALID_FROM})")
            }
        });
    }
    if let Some(first) = waiting.added.first() {
        let added = format!("{}_waiting", fact.name);
        let table = MemTable::try_new(first.schema(), vec![waiting.added.clone()])?;
        ctx.register_table(added.as_str(), Arc::new(table))?;
        parts.push(format!("SELECT * FROM {added}"));
    }
    ctx.sql(&format!(
        "CREATE VIEW {prior} AS {}",
        parts.join(" UNION ALL ")
    ))
    .await
    .with_context(|| format!("the current versions of {}", fact.name))?;
    Ok(())
}

/// Defines `prior_<table>`: the carried rows of the current versions
/// before the extract (`<fact>_prior`), restricted by `filter` (a WHERE
/// clause, or empty), replacing any earlier definition.
async fn prior_view(ctx: &SessionContext, table: Table, filter: &str) -> Result<()> {
    let name = format!("prior_{}", table.name());
    ctx.deregister_table(name.as_str())?;
    ctx.sql(&format!(
        "CREATE VIEW {name} AS SELECT {} FROM {}_prior{filter}",
        column_list(&table.stored_schema(), ""),
        fact_of(table).name
    ))
    .await?;
    Ok(())
}

/// The smallest and the largest value of the text column `col` of
/// `rows` (a query), as SQL literals, NULL when there are no rows.
///
/// Added to a key lookup as `BETWEEN lo AND hi`, a range the lookup
/// implies anyway, they reach the Parquet scan as literals, and its
/// statistics let it skip the files and row groups of keys outside the
/// range: keys follow the order in which cases arrive, and a current-tier
/// file holds one quarter's, so most of the history is skipped.
async fn key_range(ctx: &SessionContext, col: &str, rows: &str) -> Result<(String, String)> {
    let range = ctx
        .sql(&format!(
            "SELECT min(\"{col}\"), max(\"{col}\") FROM ({rows}) t"
        ))
        .await?
        .collect()
        .await?;
    let batch = range.first().context("the range of the keys")?;
    let bound = |c: usize| -> Result<String> {
        // Text literals order as text only: a key of another type would
        // compare differently, so it is refused rather than bounded.
        let ty = batch.column(c).data_type();
        if !matches!(
            ty,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            bail!("{col} is {ty}, not text: its range cannot bound a lookup");
        }
        let v = datafusion::arrow::compute::cast(batch.column(c), &DataType::Utf8)?;
        let v = v.as_any().downcast_ref::<StringArray>().context("text")?;
        // No key: NULL bounds select nothing, as the lookup would.
        Ok(match v.is_valid(0) {
            true => format!("'{}'", v.value(0).replace('\'', "''")),
            false => "NULL".to_string(),
        })
    };
    Ok((bound(0)?, bound(1)?))
}

/// A current-tier slot, `current/<fact>/<province>/<bucket>`, shared by
/// every version in it rather than spelled out for each.
pub type Slot = Arc<str>;

/// The current-tier slot of each row: its province (`_none` for central
/// units) and the year or quarter of its date (`_none` without one), as
/// the layout says; `all` where not split.
fn slots(fact: &Fact, layout: Layout, province: &ArrayRef, day: &ArrayRef) -> Result<Vec<Slot>> {
    let day = datafusion::arrow::compute::cast(day, &DataType::Date32)?;
    let day = day
        .as_any()
        .downcast_ref::<Date32Array>()
        .context("a date")?;
    let province = province.as_any().downcast_ref::<StringArray>();
    // A slot is known by its part and a bucket number (year, or year and
    // quarter; None without a date): few, so each is spelled once.
    let mut known: HashMap<(&str, Option<i32>), Slot> = HashMap::new();
    let mut out = Vec::with_capacity(day.len());
    for i in 0..day.len() {
        let part = match (fact.by_province && layout != Layout::Single, province) {
            (false, _) => "all",
            (true, Some(p)) if p.is_valid(i) && !p.value(i).is_empty() => p.value(i),
            (true, _) => "_none",
        };
        let bucket = match fact.sort {
            Some(_) if day.is_valid(i) => {
                let d = crate::reference::dates::date_from_day(day.value(i));
                Some(match layout {
                    Layout::Single | Layout::Year => d.year() * 4,
                    Layout::Quarter => d.year() * 4 + d.month0() as i32 / 3,
                })
            }
            _ => None,
        };
        let slot = known.entry((part, bucket)).or_insert_with(|| {
            let bucket = match (fact.sort, bucket, layout) {
                (None, _, _) => "all".to_string(),
                (Some(_), None, _) => "_none".to_string(),
                (Some(_), Some(b), Layout::Single | Layout::Year) => (b / 4).to_string(),
                (Some(_), Some(b), Layout::Quarter) => format!("{}q{}", b / 4, b % 4 + 1),
            };
            Slot::from(format!("{CURRENT}/{}/{part}/{bucket}", fact.name))
        });
        out.push(slot.clone());
    }
    Ok(out)
}

/// The current rows of `table` as of the extract: its own rows, and the
/// prior ones it does not replace.
async fn current_view(ctx: &SessionContext, table: Table) -> Result<()> {
    let cols = column_list(&table.stored_schema(), "");
    let pk = table.primary_key();
    let name = table.name();
    ctx.sql(&format!(
        "CREATE VIEW {name} AS \
         SELECT {cols} FROM new_{name} \
         UNION ALL \
         SELECT {cols} FROM prior_{name} \
         WHERE \"{pk}\" NOT IN (SELECT \"{pk}\" FROM new_{name})"
    ))
    .await
    .with_context(|| format!("the current rows of {name}"))?;
    Ok(())
}

/// Replaces a view by a table of its rows, computed once.
async fn keep_in_memory(ctx: &SessionContext, name: &str) -> Result<()> {
    let t = std::time::Instant::now();
    let df = ctx.table(name).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .with_context(|| format!("computing {name}"))?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    tracing::debug!(view = name, elapsed = ?t.elapsed(), "kept in memory");
    Ok(())
}

/// What one fact's maintenance changed: versions added and closed.
struct Change {
    added: usize,
    closed: usize,
}

/// Where one extract's maintenance writes: the facts folder, the
/// generation the catalog names now, the one being written, and whether
/// the current tier is split by quarter.
pub struct Target<'a> {
    pub dir: &'a Path,
    pub committed: u64,
    pub generation: u64,
    pub layout: Layout,
}

/// Maintains the facts for one extract into `pending`: nothing is written
/// until [`flush`]. Reads the committed files of `target.committed` and
/// what `pending` holds of the extracts maintained since.
pub async fn apply(
    target: &Target<'_>,
    pending: &mut Pending,
    extract_date: NaiveDate,
    sources: &Sources,
    derivation: &Derivation,
) -> Result<()> {
    let t = std::time::Instant::now();
    let idx = FileIndex::load(target.dir, target.committed, None)?;
    let m = Maintenance::prepare(derivation, &idx, sources, target.layout, pending).await?;
    tracing::debug!(elapsed = ?t.elapsed(), "prepared");
    let t = std::time::Instant::now();
    m.touch_units().await?;
    tracing::debug!(elapsed = ?t.elapsed(), "touched");
    let day = day_number(extract_date);
    for fact in &FACTS {
        let t = std::time::Instant::now();
        let c = maintain(&m, fact, pending.fact(fact.name), day).await?;
        m.release(fact)?;
        tracing::debug!(fact = fact.name, added = c.added, closed = c.closed, elapsed = ?t.elapsed(), "maintained");
    }
    Ok(())
}

/// Writes what `pending` holds under `target.generation` and empties it:
/// every current-tier slot that gains or loses versions is written again
/// once, and the versions superseded go, with `version_to` set, to one
/// closed-tier file per extract that superseded them.
pub fn flush(target: &Target<'_>, pending: &mut Pending) -> Result<()> {
    let t = std::time::Instant::now();
    let idx = FileIndex::load(target.dir, target.committed, None)?;
    let w = Writer {
        dir: target.dir,
        idx: &idx,
        generation: target.generation,
        layout: target.layout,
    };
    for fact in &FACTS {
        if let Some(p) = pending.facts.remove(fact.name) {
            w.write(fact, p)?;
        }
    }
    tracing::debug!(elapsed = ?t.elapsed(), "written");
    Ok(())
}

/// Derives the touched entities' facts, compares them with their current
/// versions by hash, and records in `pending` the versions added (valid
/// from `day`) and those closed.
async fn maintain(
    m: &Maintenance,
    fact: &Fact,
    pending: &mut PendingFact,
    day: i32,
) -> Result<Change> {
    let t = std::time::Instant::now();
    let df = m
        .ctx
        .sql(fact.sql)
        .await
        .with_context(|| format!("queries/facts/{}.sql", fact.name))?;
    // The rows under the planned schema, as the files are written with it.
    let content = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .with_context(|| format!("deriving {}", fact.name))?
        .into_iter()
        .map(|b| RecordBatch::try_new(content.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    tracing::debug!(fact = fact.name, elapsed = ?t.elapsed(), "derived");
    let t = std::time::Instant::now();
    // Per batch, never concatenated: the derived rows of the largest facts
    // are hundreds of megabytes at ten million cases, and a copy of them
    // would be the peak of the whole ingest.
    let hashes = row_hashes(&batches, crate::reference::contract::EXTRACT_DATE)?;
    let prior = m.prior_versions(fact).await?;
    tracing::debug!(fact = fact.name, elapsed = ?t.elapsed(), "hashed and read prior versions");
    let mut prior_set = HashSetByPrefix::<VersionHash>::default();
    for b in &prior {
        prior_set.extend(hashes_in(hash_column(b, 2)?));
    }
    let derived_set: HashSetByPrefix<VersionHash> = hashes.iter().flatten().copied().collect();
    let closing = closing_versions(fact, m.layout, &prior, &derived_set)?;
    drop((prior, derived_set));
    let closed = closing.len();
    // The derived rows whose hash no current version has: looked up once,
    // then used for the rows and for their hashes.
    let mut added = Vec::new();
    for (batch, hashes) in batches.into_iter().zip(&hashes) {
        let keep: BooleanArray = hashes
            .iter()
            .map(|h| Some(!prior_set.contains(h)))
            .collect();
        if keep.true_count() == 0 {
            continue;
        }
        let new = hashes.iter().zip(keep.values().iter());
        added.push(with_versions(
            &filter_record_batch(&batch, &keep)?,
            new.filter_map(|(h, new)| new.then_some(*h)),
            day,
        )?);
    }
    pending.close(closing, day)?;
    let added_rows: usize = added.iter().map(RecordBatch::num_rows).sum();
    if let Some(first) = added.first() {
        pending.added.push(concat_batches(&first.schema(), &added)?);
    }
    Ok(Change {
        added: added_rows,
        closed,
    })
}

struct Writer<'a> {
    dir: &'a Path,
    idx: &'a FileIndex,
    generation: u64,
    layout: Layout,
}

impl Writer<'_> {
    fn path(&self, slot: &str) -> PathBuf {
        self.dir
            .join(format!("{slot}.g{}.parquet", self.generation))
    }

    /// Writes one fact's pending changes: the slots they touch again, and
    /// the closed versions by the day they were closed.
    fn write(&self, fact: &Fact, mut p: PendingFact) -> Result<()> {
        let added = match p.added.first() {
            Some(first) => Some(concat_batches(&first.schema(), &p.added)?),
            None => None,
        };
        p.added.clear();
        let gaining = match &added {
            Some(a) => self.gaining(fact, a)?,
            None => BTreeMap::new(),
        };
        let closing = p.closing_by_slot();
        let touched: Vec<&Slot> = closing
            .keys()
            .chain(gaining.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // Each slot is read, merged and written on its own: the files are
        // independent, so both cores share them.
        let gone = map_parallel(&touched, |slot| {
            self.rewrite(
                fact,
                slot,
                closing.get(*slot),
                gaining.get(*slot),
                added.as_ref(),
            )
        })?;
        let gone: Vec<RecordBatch> = gone.into_iter().flatten().collect();
        self.write_closed(fact, &gone, &p.closed)
    }

    /// The rows of `added` by the slot they go to.
    fn gaining(&self, fact: &Fact, added: &RecordBatch) -> Result<BTreeMap<Slot, Vec<u32>>> {
        let n = added.num_rows();
        let province = added
            .column_by_name("province_code")
            .cloned()
            .unwrap_or_else(|| datafusion::arrow::array::new_null_array(&DataType::Utf8, n));
        let day = match fact.sort {
            Some(c) => added.column_by_name(c).context("sort column")?.clone(),
            None => datafusion::arrow::array::new_null_array(&DataType::Date32, n),
        };
        let mut gaining: BTreeMap<Slot, Vec<u32>> = BTreeMap::new();
        for (i, slot) in slots(fact, self.layout, &province, &day)?
            .into_iter()
            .enumerate()
        {
            gaining.entry(slot).or_default().push(i as u32);
        }
        Ok(gaining)
    }

    /// One closed-tier file per day the versions were closed on, named by
    /// that extract's date: the versions closed in the slot files (in slot
    /// order, each slot's in its order), then those the group added and
    /// closed again, sorted by province and date likewise.
    fn write_closed(&self, fact: &Fact, gone: &[RecordBatch], again: &[RecordBatch]) -> Result<()> {
        let by_day = |batches: &[RecordBatch]| -> Result<BTreeMap<i32, RecordBatch>> {
            let Some(first) = batches.first() else {
                return Ok(BTreeMap::new());
            };
            let all = concat_batches(&first.schema(), batches)?;
            let to = all
                .column_by_name(VALID_TO)
                .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
                .context("version_to")?;
            let days: std::collections::BTreeSet<i32> = to.iter().flatten().collect();
            days.into_iter()
                .map(|day| {
                    let on_day: BooleanArray = to.iter().map(|d| Some(d == Some(day))).collect();
                    Ok((day, filter_record_batch(&all, &on_day)?))
                })
                .collect()
        };
        let mut days = by_day(gone)?;
        let mut keys = sort_keys(fact, self.layout);
        if fact.by_province && !keys.contains(&"province_code") {
            keys.insert(0, "province_code");
        }
        for (day, rows) in by_day(again)? {
            let rows = slot::sorted(&rows, &keys)?;
            let merged = match days.remove(&day) {
                Some(first) => concat_batches(&first.schema(), [&first, &rows])?,
                None => rows,
            };
            days.insert(day, merged);
        }
        for (day, rows) in days {
            let date = crate::reference::dates::date_from_day(day);
            let slot = format!("{CLOSED}/{}/{}", fact.name, date.format("%Y-%m-%d"));
            write_file(&self.path(&slot), &rows)?;
        }
        Ok(())
    }

    /// Writes one current-tier slot again: its committed versions less
    /// those `closing` names, plus the `gaining` rows of `added`, sorted.
    /// Returns the versions it closed, with `version_to` set.
    fn rewrite(
        &self,
        fact: &Fact,
        slot: &str,
        closing: Option<&HashMapByPrefix<VersionHash, i32>>,
        gaining: Option<&Vec<u32>>,
        added: Option<&RecordBatch>,
    ) -> Result<Option<RecordBatch>> {
        let old = match self.idx.get(slot) {
            Some(path) => Some(read_file(path)?),
            None if closing.is_some() => bail!(
                "{}: no file for {slot}; rebuild the facts (`vigil rebuild`)",
                fact.name
            ),
            None => None,
        };
        // A slot that only loses versions takes its schema from its file.
        let empty;
        let added = match (added, &old) {
            (Some(a), _) => a,
            (None, Some((schema, _))) => {
                empty = RecordBatch::new_empty(schema.clone());
                &empty
            }
            (None, None) => return Ok(None),
        };
        let merged = slot::SlotMerge {
            old: old.as_ref().map_or(&[], |(_, b)| b.as_slice()),
            added,
            gaining: gaining.map_or(&[], Vec::as_slice),
            keys: &sort_keys(fact, self.layout),
            hash: HASH,
        }
        .run(closing, VALID_TO)
        .with_context(|| format!("{}: {slot}", fact.name))?;
        write_file(&self.path(slot), &merged.current)?;
        Ok(old.map(|_| merged.closed))
    }
}

/// The order of a fact's current-tier files: province (files of the
/// single layout hold every province) and date, so that row groups and
/// pages hold one province's neighbouring dates and their statistics let a
/// province or a period skip the rest; ties, and the facts without a date,
/// by entity and hash, so a file's bytes depend on its versions only, not
/// on the order in which a query derived them.
fn sort_keys(fact: &Fact, layout: Layout) -> Vec<&'static str> {
    let by_province = (fact.by_province && layout == Layout::Single).then_some("province_code");
    by_province
        .into_iter()
        .chain(fact.sort)
        .chain([fact.entity, HASH])
        .collect()
}

/// `f` over every item, on as many threads as there are cores (at most
/// one per item); the results in the items' order, or the first error.
fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<R>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        let failed = r.is_err();
                        mine.push((i, r));
                        if failed {
                            // The others stop at their next item.
                            next.store(items.len(), std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker thread"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The rows of a derived batch as versions: valid from this extract, not
/// yet superseded, with their hashes.
fn with_versions(
    batch: &RecordBatch,
    hashes: impl Iterator<Item = [u8; 16]>,
    day: i32,
) -> Result<RecordBatch> {
    let schema = fact_schema(&batch.schema());
    let n = batch.num_rows();
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(Date32Array::from(vec![day; n])));
    columns.push(Arc::new(Date32Array::from(vec![None; n])));
    let hashes: Vec<[u8; 16]> = hashes.collect();
    columns.push(Arc::new(if hashes.is_empty() {
        FixedSizeBinaryArray::new_null(16, 0)
    } else {
        FixedSizeBinaryArray::try_from_iter(hashes.into_iter())?
    }));
    Ok(RecordBatch::try_new(schema, columns)?)
}

// ---------------------------------------------------------------------------
// Keeping the facts in step with the catalog

/// Why the committed facts cannot serve `derivation`, if they cannot.
pub fn stale_reason(cat: &Catalog, derivation: &Derivation) -> Option<String> {
    let latest = cat.latest()?.extract_date;
    match &cat.facts {
        None => Some(
            "the store has no facts yet (it was written by an earlier version of vigil); \
             nothing in it changes"
                .to_string(),
        ),
        Some(f) if f.fingerprint != derivation.fingerprint() => Some(
            "the rules file, the calendar or the province lineage changed since the facts were built"
                .to_string(),
        ),
        Some(f) if f.through != latest => Some(format!(
            "the facts cover extracts up to {} but the store holds extracts up to {latest}",
            f.through
        )),
        Some(_) => None,
    }
}

impl Sources {
    /// The accepted rows of an extract in the store's extract folder.
    pub fn of(store: &Store, entry: &ExtractEntry) -> Sources {
        let mut s = Sources {
            rows: entry.accepted(),
            ..Sources::default()
        };
        for t in Table::ALL {
            if let Some(p) = store.extract_table_file(entry, t) {
                s.files.insert(t.name(), p);
            }
        }
        s
    }
}

/// Builds the facts of every committed extract afresh in a new folder, by
/// maintaining them extract after extract exactly as ingest does. Returns
/// the state to commit; nothing is committed here.
pub async fn rebuild(
    store: &Store,
    _lock: &StoreLock,
    cat: &Catalog,
    derivation: &Derivation,
) -> Result<FactsState> {
    let fingerprint = derivation.fingerprint();
    let dir_name = format!(
        "{}-{}",
        &fingerprint[..12],
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f")
    );
    let dir = store.facts_dir(&dir_name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut through = NaiveDate::MIN;
    let rows: u64 = cat.extracts.iter().map(ExtractEntry::accepted).sum();
    let layout = layout_for(rows / cat.extracts.len().max(1) as u64);
    // Extracts are maintained in groups, as an ingest of many does.
    let mut pending = Pending::default();
    let (mut generation, mut in_group) = (0u64, 0usize);
    for (i, entry) in cat.extracts.iter().enumerate() {
        let sources = Sources::of(store, entry);
        let target = Target {
            dir: &dir,
            committed: generation,
            generation: generation + 1,
            layout,
        };
        apply(
            &target,
            &mut pending,
            entry.extract_date,
            &sources,
            derivation,
        )
        .await
        .with_context(|| format!("building the facts of extract {}", entry.extract_date))?;
        through = entry.extract_date;
        in_group += 1;
        let last = i + 1 == cat.extracts.len();
        if last || group_is_full(&pending, in_group) {
            flush(&target, &mut pending)?;
            generation += 1;
            in_group = 0;
        }
    }
    sync_filesystem(&dir)?;
    failpoint("facts-written");
    Ok(FactsState {
        dir: dir_name,
        fingerprint,
        generation,
        through,
        layout,
    })
}

/// Rebuilds and commits the facts when they cannot serve `derivation`
/// (saying why on standard error); returns the committed state, or `None`
/// for a store without extracts.
pub async fn ensure(store: &Store, derivation: &Derivation) -> Result<Option<FactsState>> {
    let cat = store.catalog()?;
    if stale_reason(&cat, derivation).is_none() {
        return Ok(cat.facts);
    }
    rebuild_and_commit(store, derivation, |cat| {
        match stale_reason(cat, derivation) {
            Some(reason) => {
                eprintln!("vigil: rebuilding the facts: {reason}");
                true
            }
            None => false,
        }
    })
    .await
}

/// Under the store's lock, rebuilds and commits the facts of every stored
/// extract when `wanted` says so for the catalog as it is once locked
/// (another process may have brought it up to date meanwhile); removes
/// what the old facts leave behind. Returns the facts then committed.
pub async fn rebuild_and_commit(
    store: &Store,
    derivation: &Derivation,
    wanted: impl FnOnce(&Catalog) -> bool,
) -> Result<Option<FactsState>> {
    let lock = store.lock()?;
    store.clean_leftovers(&lock)?;
    let cat = store.catalog()?;
    if cat.extracts.is_empty() || !wanted(&cat) {
        return Ok(cat.facts);
    }
    let state = rebuild(store, &lock, &cat, derivation).await?;
    store.commit_facts(&lock, state.clone())?;
    store.clean_leftovers(&lock)?;
    Ok(Some(state))
}

/// How much the versions of a group of extracts may hold in memory before
/// they are written and the group committed, and how many extracts a group
/// takes at most (what a killed run has to do again).
pub const GROUP_BYTES: usize = 384 << 20;
pub const GROUP_EXTRACTS: usize = 12;

/// Whether a group of `extracts` holding `pending` should be written now.
fn group_is_full(pending: &Pending, extracts: usize) -> bool {
    extracts >= GROUP_EXTRACTS || pending.bytes() >= GROUP_BYTES
}

/// The facts of a group of extracts ingested one after the other under one
/// lock and committed together: each extract is maintained in memory
/// ([`apply`]) and the files are written once for the group ([`flush`]).
pub struct Group {
    /// The facts the group builds on: committed, or rebuilt for it.
    base: FactsState,
    pending: Pending,
    through: Option<NaiveDate>,
    extracts: usize,
}

impl Group {
    /// Starts a group on the store's facts, rebuilding them first when
    /// stale; an empty store gets its first facts folder, laid out for
    /// `rows` rows an extract.
    pub fn open(
        store: &Store,
        lock: &StoreLock,
        cat: &Catalog,
        first: NaiveDate,
        rows: u64,
        derivation: &Derivation,
    ) -> Result<Group> {
        let base = run_blocking(async {
            Ok::<_, anyhow::Error>(match (&cat.facts, stale_reason(cat, derivation)) {
                (Some(f), None) => {
                    remove_stale(&store.facts_dir(&f.dir), f.generation)?;
                    f.clone()
                }
                (_, Some(reason)) => {
                    eprintln!("vigil: rebuilding the facts: {reason}");
                    rebuild(store, lock, cat, derivation).await?
                }
                (None, None) => {
                    let fingerprint = derivation.fingerprint();
                    FactsState {
                        dir: format!("{}-{}", &fingerprint[..12], first.format("%Y%m%d")),
                        fingerprint,
                        generation: 0,
                        through: NaiveDate::MIN,
                        layout: layout_for(rows),
                    }
                }
            })
        })?;
        Ok(Group {
            base,
            pending: Pending::default(),
            through: None,
            extracts: 0,
        })
    }

    fn target<'a>(&self, dir: &'a Path) -> Target<'a> {
        Target {
            dir,
            committed: self.base.generation,
            generation: self.base.generation + 1,
            layout: self.base.layout,
        }
    }

    /// Maintains the facts for an extract being ingested (its accepted
    /// rows staged). After an error the group must not be written.
    pub fn maintain(
        &mut self,
        store: &Store,
        extract_date: NaiveDate,
        sources: &Sources,
        derivation: &Derivation,
    ) -> Result<()> {
        let dir = store.facts_dir(&self.base.dir);
        let target = self.target(&dir);
        let pending = &mut self.pending;
        run_blocking(apply(&target, pending, extract_date, sources, derivation))?;
        self.through = Some(extract_date);
        self.extracts += 1;
        return_freed_memory();
        Ok(())
    }

    /// Whether the group holds as much as it should before it is written.
    pub fn is_full(&self) -> bool {
        group_is_full(&self.pending, self.extracts)
    }

    /// Writes the group's files (durably) and returns the state to commit
    /// with its extracts; the group is then empty, on that state.
    pub fn write(&mut self, store: &Store) -> Result<FactsState> {
        let dir = store.facts_dir(&self.base.dir);
        let target = self.target(&dir);
        flush(&target, &mut self.pending)?;
        sync_filesystem(&dir)?;
        failpoint("facts-written");
        let state = FactsState {
            generation: self.base.generation + 1,
            through: self.through.unwrap_or(self.base.through),
            ..self.base.clone()
        };
        self.base = state.clone();
        self.through = None;
        self.extracts = 0;
        return_freed_memory();
        Ok(state)
    }
}

/// Hands the memory freed by one extract's maintenance back to the system.
/// glibc keeps freed memory in the arenas of the threads that used it, and
/// each maintenance runs on threads of its own: without this, an ingest of
/// many extracts grew by what every extract left there.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages of the allocator back.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Stack of each thread of a runtime that plans or runs queries. DataFusion
/// and Ballista recurse over plans (optimizer rules, the plan codec of the
/// cluster), and a scheduler on tokio's default 2 MiB overflowed on
/// vigil's scoring plan in a build without optimisation. The memory is
/// reserved, not committed, until used.
pub const QUERY_STACK_BYTES: usize = 8 << 20;

/// A multi-threaded runtime for queries, with [`QUERY_STACK_BYTES`] stacks.
pub fn query_runtime() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.thread_stack_size(QUERY_STACK_BYTES).enable_all();
    b
}

/// Runs a future to completion on a runtime of its own, on its own thread,
/// so that callers inside or outside a runtime can wait for it.
pub fn run_blocking<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            query_runtime()
                .build()
                .expect("a runtime for fact maintenance")
                .block_on(fut)
        })
        .join()
        .expect("fact maintenance thread")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_placed_in_its_slot_and_equal_slots_are_shared() {
        let province: ArrayRef = Arc::new(StringArray::from(vec![
            Some("01"),
            Some("01"),
            None,
            Some("79"),
            Some(""),
        ]));
        let day = |s: &str| day_number(s.parse().unwrap());
        let days: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(day("2025-05-10")),
            Some(day("2025-06-30")),
            Some(day("2024-12-31")),
            None,
            Some(day("2026-01-01")),
        ]));
        let cases = fact_of(Table::Cases);
        let placed = |layout| -> Vec<String> {
            slots(cases, layout, &province, &days)
                .unwrap()
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let c = "current/case_facts";
        assert_eq!(
            placed(Layout::Quarter),
            [
                format!("{c}/01/2025q2"),
                format!("{c}/01/2025q2"),
                format!("{c}/_none/2024q4"),
                format!("{c}/79/_none"),
                format!("{c}/_none/2026q1"),
            ]
        );
        assert_eq!(
            placed(Layout::Year),
            [
                format!("{c}/01/2025"),
                format!("{c}/01/2025"),
                format!("{c}/_none/2024"),
                format!("{c}/79/_none"),
                format!("{c}/_none/2026"),
            ]
        );
        assert_eq!(
            placed(Layout::Single),
            [
                format!("{c}/all/2025"),
                format!("{c}/all/2025"),
                format!("{c}/all/2024"),
                format!("{c}/all/_none"),
                format!("{c}/all/2026"),
            ]
        );
        let units = slots(fact_of(Table::Units), Layout::Quarter, &province, &days).unwrap();
        assert!(units.iter().all(|s| &**s == "current/unit_facts/all/all"));
        // One spelling per slot, shared by its rows.
        let q = slots(cases, Layout::Quarter, &province, &days).unwrap();
        assert!(Arc::ptr_eq(&q[0], &q[1]));
        assert!(Arc::ptr_eq(&units[0], &units[4]));
    }

    #[test]
    fn key_ranges_are_exact_literals_and_null_for_no_keys() {
        run_blocking(async {
            let ctx = SessionContext::new();
            ctx.sql(
                "CREATE VIEW k AS SELECT * FROM \
                 (VALUES ('HS0002'), ('O''Neil'), ('HS0010'), (NULL)) t(case_id)",
            )
            .await
            .unwrap();
            let (lo, hi) = key_range(&ctx, "case_id", "SELECT case_id FROM k")
                .await
                .unwrap();
            assert_eq!((lo.as_str(), hi.as_str()), ("'HS0002'", "'O''Neil'"));
            // The literals select the same rows the keys name.
            let n = ctx
                .sql(&format!(
                    "SELECT count(*) FROM k WHERE case_id BETWEEN {lo} AND {hi}"
                ))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let n = n[0]
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap();
            assert_eq!(n.value(0), 3);
            let none = key_range(&ctx, "case_id", "SELECT case_id FROM k WHERE false")
                .await
                .unwrap();
            assert_eq!(none, ("NULL".to_string(), "NULL".to_string()));
            let ints = key_range(&ctx, "n", "SELECT 1 AS n").await;
            assert!(ints.is_err(), "a key that is not text is refused");
        });
    }

    #[test]
    fn file_names_carry_slot_and_generation() {
        assert_eq!(
            parse_file_name("current/stage_facts/01/2026q3.g12.parquet"),
            Some(("current/stage_facts/01/2026q3", 12))
        );
        assert_eq!(
            parse_file_name("closed/case_facts/2026-10-31.g3.parquet"),
            Some(("closed/case_facts/2026-10-31", 3))
        );
        assert_eq!(parse_file_name("current/x/all.parquet"), None);
        assert_eq!(parse_file_name("current/x/all.gx.parquet"), None);
    }

    #[test]
    fn readers_take_the_latest_committed_generation_of_each_slot() {
        let tmp = tempfile::tempdir().unwrap();
        let touch = |rel: &str| {
            let p = tmp.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"").unwrap();
        };
        touch("current/case_facts/01/2026.g1.parquet");
        touch("current/case_facts/01/2026.g3.parquet");
        touch("current/case_facts/01/2026.g4.parquet"); // not committed
        touch("current/case_facts/02/2026.g2.parquet");
        touch("closed/case_facts/2026-01-31.g2.parquet");
        touch("closed/case_facts/2026-02-28.g3.parquet");
        let mut stale = Vec::new();
        let idx = FileIndex::load(tmp.path(), 3, Some(&mut stale)).unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            let mut v: Vec<String> = v
                .iter()
                .map(|p| p.strip_prefix(tmp.path()).unwrap().display().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            names(idx.current("case_facts")),
            [
                "current/case_facts/01/2026.g3.parquet",
                "current/case_facts/02/2026.g2.parquet"
            ]
        );
        let as_of = |d: &str| crate::reference::dates::parse_date(d).unwrap();
        assert_eq!(
            names(idx.closed_after("case_facts", as_of("2026-01-31"))),
            ["closed/case_facts/2026-02-28.g3.parquet"]
        );
        assert_eq!(
            names(idx.closed_after("case_facts", as_of("2025-12-31"))).len(),
            2
        );
        let superseded_by: Vec<(String, Option<String>)> = stale
            .into_iter()
            .map(|(p, by)| {
                (
                    names(vec![p]).remove(0),
                    by.map(|b| names(vec![b]).remove(0)),
                )
            })
            .collect();
        assert_eq!(superseded_by.len(), 2);
        assert!(superseded_by.contains(&(
            "current/case_facts/01/2026.g1.parquet".into(),
            Some("current/case_facts/01/2026.g3.parquet".into())
        )));
        assert!(superseded_by.contains(&("current/case_facts/01/2026.g4.parquet".into(), None)));
    }

    #[test]
    fn layouts_by_rows_per_extract() {
        assert_eq!(layout_for(1_700), Layout::Single);
        assert_eq!(layout_for(35_000), Layout::Year);
        assert_eq!(layout_for(1_300_000), Layout::Quarter);
    }
}
