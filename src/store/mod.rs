//! The extract store: accepted rows as Parquet, one folder per ingested
//! extract, and a catalog that says which folders are committed.
//!
//! Layout of a store directory:
//!
//! ```text
//! catalog.json                 the committed extracts, in extract_date order
//! extracts/2026-10-31/         one folder per committed extract
//!     units.parquet ...        accepted rows (stored schema, with extract_date)
//!     quarantine.parquet       rejected rows: file, line, column, reason
//! facts/<name>/                what scoring reads, maintained at ingest
//!                              (the facts module says what they hold)
//! .staging/                    an ingest in progress (never read)
//! .lock                        held by the one ingest allowed at a time
//! ```
//!
//! Atomicity: an ingest writes its folder under `.staging`, syncs it, writes
//! the facts of a new generation, renames the folder into `extracts/`, and
//! only then replaces `catalog.json` (naming the extract and the facts
//! generation) by an atomic rename. Readers see only folders and
//! generations the catalog names, so a process killed at any point leaves
//! the store as before (catalog not yet replaced) or as after (replaced);
//! leftovers are removed by the next ingest.
//!
//! Versions: every stored row keeps its `extract_date`. The current view of a
//! table is, per primary key, the row of the latest extract; the view as of a
//! date is the same over the extracts dated on or before it. Nothing is ever
//! rewritten, so any earlier as-of state stays reproducible.

pub mod remote;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use datafusion::arrow::array::{Date32Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::reference::contract::{EXTRACT_DATE, Table};

const CATALOG: &str = "catalog.json";
const EXTRACTS: &str = "extracts";
const STAGING: &str = ".staging";
const FACTS: &str = "facts";
const LOCK: &str = ".lock";
const FORMAT_VERSION: u32 = 1;
pub const QUARANTINE_FILE: &str = "quarantine.parquet";

/// Testing hook: `VIGIL_FAILPOINT=<name>` aborts the process at that point
/// of a commit, as a power cut would. Used by the crash-safety tests.
pub fn failpoint(name: &str) {
    if std::env::var("VIGIL_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("vigil: failpoint {name} reached, aborting");
        std::process::abort();
    }
}

/// What the catalog records of one input table file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// The file name in the extract, e.g. `cases.csv`.
    pub name: String,
    /// SHA-256 of the file's bytes: an extract sent twice is recognised.
    pub sha256: String,
    pub rows: u64,
    pub accepted: u64,
    pub quarantined: u64,
}

/// One committed extract.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtractEntry {
    #[serde(with = "crate::reference::dates::iso")]
    pub extract_date: NaiveDate,
    pub source: String,
    /// Folder under `extracts/`.
    pub dir: String,
    pub ingested_at: String,
    /// Per table name, what came in.
    pub files: BTreeMap<String, FileRecord>,
    /// Quarantined rows per reason kind.
    pub quarantine_reasons: BTreeMap<String, u64>,
}

impl Catalog {
    /// SHA-256 over the content of the extracts dated on or before `as_of`:
    /// each one's date and its files' names and hashes, in date order.
    /// Where and when they were ingested is left out, so the same extracts
    /// give the same digest in any store, and a later extract leaves the
    /// digest of an earlier as-of unchanged.
    pub fn content_digest(&self, as_of: NaiveDate) -> Sha256 {
        let mut h = Sha256::new();
        for e in self.extracts.iter().filter(|e| e.extract_date <= as_of) {
            h.update(format!("extract {}\n", e.extract_date).as_bytes());
            for f in e.files.values() {
                h.update(format!("{} {}\n", f.name, f.sha256).as_bytes());
            }
        }
        h
    }
}

impl ExtractEntry {
    pub fn accepted(&self) -> u64 {
        self.files.values().map(|f| f.accepted).sum()
    }
    pub fn quarantined(&self) -> u64 {
        self.files.values().map(|f| f.quarantined).sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Catalog {
    pub format_version: u32,
    pub extracts: Vec<ExtractEntry>,
    /// The facts maintained at ingest (absent in stores written before
    /// facts existed: they are then built on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<FactsState>,
}

/// Which facts the catalog commits: their folder under `facts/`, what they
/// were derived with, the last generation written and the last extract
/// they cover.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FactsState {
    pub dir: String,
    pub fingerprint: String,
    pub generation: u64,
    #[serde(with = "crate::reference::dates::iso")]
    pub through: NaiveDate,
    /// How the current tier is split (see `facts::layout_for`).
    #[serde(default)]
    pub layout: Layout,
}

/// How the current tier of the facts is split into files.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One file per fact and year (provinces sorted, not split).
    Single,
    /// One file per fact, province and year.
    #[default]
    Year,
    /// One file per fact, province and quarter.
    Quarter,
}

impl Catalog {
    pub fn latest(&self) -> Option<&ExtractEntry> {
        self.extracts.last()
    }

    /// The as-of date in force for a requested date: the latest extract date
    /// on or before it (all extracts when none is requested).
    pub fn effective_as_of(&self, requested: Option<NaiveDate>) -> Option<NaiveDate> {
        self.extracts
            .iter()
            .map(|e| e.extract_date)
            .filter(|d| requested.is_none_or(|r| *d <= r))
            .max()
    }
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Held while an ingest runs; released on drop (and by the OS if the
/// process dies).
pub struct StoreLock {
    _file: File,
}

/// A folder being written for one extract; committed or abandoned.
pub struct Staging {
    store: Store,
    dir: PathBuf,
    name: String,
}

fn sync_dir(path: &Path) -> Result<()> {
    // Directory fsync makes renames and new entries durable on Linux.
    File::open(path)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

/// Parquet settings for stored files: zstd, row groups of about a million
/// rows (large groups decode fastest for whole-table scoring scans).
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// Writes batches to a Parquet file and syncs it.
pub fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(writer_properties()))?;
    for b in batches {
        w.write(b)?;
    }
    let file = w.into_inner()?;
    file.sync_all()?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) a store directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        fs::create_dir_all(root.join(EXTRACTS))
            .with_context(|| format!("creating the store at {}", root.display()))?;
        Ok(Store { root })
    }

    /// Opens an existing store without creating anything.
    pub fn open_existing(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        if !root.join(CATALOG).is_file() {
            bail!(
                "{} is not a vigil store (no {CATALOG}); run `vigil ingest` first",
                root.display()
            );
        }
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn catalog(&self) -> Result<Catalog> {
        let path = self.root.join(CATALOG);
        if !path.exists() {
            return Ok(Catalog {
                format_version: FORMAT_VERSION,
                extracts: Vec::new(),
                facts: None,
            });
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let cat: Catalog = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", path.display()))?;
        if cat.format_version != FORMAT_VERSION {
            bail!(
                "store format {} is not supported (expected {FORMAT_VERSION})",
                cat.format_version
            );
        }
        Ok(cat)
    }

    /// Takes the ingest lock, or fails at once if another ingest holds it.
    pub fn lock(&self) -> Result<StoreLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(LOCK))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(_) => bail!(
                "another ingest is running on {} (the store is locked)",
                self.root.display()
            ),
        }
    }

    /// Removes what a killed ingest left behind: the staging area and any
    /// extract folder the catalog does not name. Needs the lock.
    pub fn clean_leftovers(&self, _lock: &StoreLock) -> Result<()> {
        let staging = self.root.join(STAGING);
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        let tmp = self.root.join(format!("{CATALOG}.tmp"));
        if tmp.exists() {
            fs::remove_file(&tmp)?;
        }
        let cat = self.catalog()?;
        let facts = self.root.join(FACTS);
        if facts.exists() {
            for entry in fs::read_dir(&facts)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().to_string();
                if cat.facts.as_ref().is_none_or(|f| f.dir != name) {
                    tracing::info!(folder = %name, "removing facts no catalog names");
                    fs::remove_dir_all(entry.path())?;
                }
            }
        }
        for entry in fs::read_dir(self.root.join(EXTRACTS))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !cat.extracts.iter().any(|e| e.dir == name) {
                tracing::warn!(folder = %name, "removing an uncommitted extract folder");
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// Starts writing the folder of a new extract.
    pub fn begin(&self, _lock: &StoreLock, extract_date: NaiveDate) -> Result<Staging> {
        let name = extract_date.format("%Y-%m-%d").to_string();
        let dir = self.root.join(STAGING).join(&name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        Ok(Staging {
            store: self.clone(),
            dir,
            name,
        })
    }

    /// The folder of the facts a catalog commits (or would commit).
    pub fn facts_dir(&self, dir: &str) -> PathBuf {
        self.root.join(FACTS).join(dir)
    }

    /// Commits new facts for the extracts already in the catalog (after a
    /// rebuild).
    pub fn commit_facts(&self, lock: &StoreLock, facts: FactsState) -> Result<()> {
        self.commit_extracts(lock, Vec::new(), facts)
    }

    /// Makes placed extracts part of the store with the facts that include
    /// them. The catalog replacement is the commit point; everything before
    /// it is invisible to readers.
    pub fn commit_extracts(
        &self,
        lock: &StoreLock,
        entries: Vec<ExtractEntry>,
        facts: FactsState,
    ) -> Result<()> {
        let mut cat = self.catalog()?;
        cat.extracts.extend(entries);
        cat.facts = Some(facts);
        self.write_catalog(lock, &cat)?;
        // Only the now-empty staging folder is left; not an error if absent.
        let _ = fs::remove_dir(self.root.join(STAGING));
        Ok(())
    }

    /// Replaces `catalog.json` atomically: the one commit point.
    fn write_catalog(&self, _lock: &StoreLock, cat: &Catalog) -> Result<()> {
        let mut cat = cat.clone();
        cat.format_version = FORMAT_VERSION;
        let tmp = self.root.join(format!("{CATALOG}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(serde_json::to_string_pretty(&cat)?.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        failpoint("before-catalog");
        fs::rename(&tmp, self.root.join(CATALOG))?;
        sync_dir(&self.root)?;
        failpoint("after-catalog");
        Ok(())
    }

    /// The stored file of a table in one committed extract, if it has one.
    pub fn extract_table_file(&self, entry: &ExtractEntry, table: Table) -> Option<PathBuf> {
        let p = self
            .extract_dir(entry)
            .join(format!("{}.parquet", table.name()));
        p.exists().then_some(p)
    }

    fn extract_dir(&self, entry: &ExtractEntry) -> PathBuf {
        self.root.join(EXTRACTS).join(&entry.dir)
    }

    /// Stored files of a table for extracts dated on or before `as_of`, in
    /// extract order.
    pub fn table_files(&self, cat: &Catalog, table: Table, as_of: NaiveDate) -> Vec<PathBuf> {
        cat.extracts
            .iter()
            .filter(|e| e.extract_date <= as_of)
            .map(|e| {
                self.extract_dir(e)
                    .join(format!("{}.parquet", table.name()))
            })
            .filter(|p| p.exists())
            .collect()
    }

    fn quarantine_files(&self, cat: &Catalog, as_of: NaiveDate) -> Vec<PathBuf> {
        cat.extracts
            .iter()
            .filter(|e| e.extract_date <= as_of)
            .map(|e| self.extract_dir(e).join(QUARANTINE_FILE))
            .filter(|p| p.exists())
            .collect()
    }

    /// Registers the store's tables in `ctx` as of a date (all extracts when
    /// `None`), and returns the effective as-of date (`None` for an empty
    /// store, which still registers empty tables).
    ///
    /// Names: `units`, `reception_sessions`, `cases`, `case_events`,
    /// `officials`, `inspections` (one row per primary key, the latest
    /// version), `<table>_history` (every stored version with its
    /// `extract_date`), `quarantine` and `extracts`.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        as_of: Option<NaiveDate>,
    ) -> Result<Option<NaiveDate>> {
        let effective = self.register_history(ctx, as_of).await?;
        for table in Table::ALL {
            let history = format!("{}_history", table.name());
            ctx.sql(&latest_version_view(table, &history))
                .await
                .with_context(|| format!("creating the view {}", table.name()))?;
        }
        Ok(effective)
    }

    /// Registers `<table>_history`, `quarantine` and `extracts` as of a date
    /// (scoring reads the current versions from the facts instead).
    pub async fn register_history(
        &self,
        ctx: &SessionContext,
        as_of: Option<NaiveDate>,
    ) -> Result<Option<NaiveDate>> {
        let cat = self.catalog()?;
        let effective = cat.effective_as_of(as_of);
        let cutoff = effective.unwrap_or(NaiveDate::MIN);
        for table in Table::ALL {
            let files = if effective.is_some() {
                self.table_files(&cat, table, cutoff)
            } else {
                Vec::new()
            };
            let history = format!("{}_history", table.name());
            register_files(ctx, &history, table.stored_schema(), &files).await?;
        }
        let qfiles = if effective.is_some() {
            self.quarantine_files(&cat, cutoff)
        } else {
            Vec::new()
        };
        register_files(ctx, "quarantine", quarantine_schema(), &qfiles).await?;
        let extracts: Vec<&ExtractEntry> = cat
            .extracts
            .iter()
            .filter(|e| e.extract_date <= cutoff)
            .collect();
        ctx.register_table("extracts", Arc::new(extracts_table(&extracts)?))?;
        Ok(effective)
    }
}

/// The view keeping, per primary key, the row of the latest extract.
///
/// Ingest quarantines a key repeated within one extract, so (key, extract
/// date) is unique and the latest version is found by joining each key's
/// latest extract date back to the history. This holds only the narrow
/// (key, date) pairs in memory; a window ranking versions would sort the
/// whole wide history (gigabytes at ten million cases). The narrow side
/// comes first so the join builds its hash table on it.
fn latest_version_view(table: Table, history: &str) -> String {
    let cols: Vec<String> = table
        .stored_schema()
        .fields()
        .iter()
        .map(|f| format!("h.\"{}\"", f.name()))
        .collect();
    format!(
        "CREATE VIEW {name} AS SELECT {cols} \
           FROM (SELECT \"{pk}\" AS vigil_key, max(\"{EXTRACT_DATE}\") AS vigil_latest \
                 FROM {history} GROUP BY \"{pk}\") l \
           JOIN {history} h \
             ON h.\"{pk}\" = l.vigil_key AND h.\"{EXTRACT_DATE}\" = l.vigil_latest",
        name = table.name(),
        cols = cols.join(", "),
        pk = table.primary_key(),
    )
}

/// Where the files of a store pulled into a local cache live on object
/// storage. A context holding one (as a config extension) names the
/// objects instead of the cached files, for processes that do not share
/// the cache: the executors of a cluster.
#[derive(Debug, Clone)]
pub struct ObjectMirror {
    /// The cache folder, canonical.
    pub cache: PathBuf,
    /// `s3://bucket/prefix` of the store.
    pub url: String,
}

impl ObjectMirror {
    pub fn new(cache: &Path, url: &str) -> Result<ObjectMirror> {
        Ok(ObjectMirror {
            cache: fs::canonicalize(cache)
                .with_context(|| format!("opening the cache {}", cache.display()))?,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// The object URL of a file under the cache.
    fn url_of(&self, file: &Path) -> Option<String> {
        let rel = file.strip_prefix(&self.cache).ok()?;
        let parts: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
        Some(format!("{}/{}", self.url, parts.join("/")))
    }
}

/// Registers `name` over Parquet files of a known schema, or as an empty
/// table of that schema when there are none.
pub async fn register_files(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    files: &[PathBuf],
) -> Result<()> {
    if files.is_empty() {
        let empty = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(empty))?;
        return Ok(());
    }
    let mirror = ctx.copied_config().get_extension::<ObjectMirror>();
    let urls = files
        .iter()
        .map(|p| {
            let abs = fs::canonicalize(p)?;
            let url = match mirror.as_ref().and_then(|m| m.url_of(&abs)) {
                Some(url) => url,
                None => abs.to_string_lossy().into_owned(),
            };
            ListingTableUrl::parse(url).map_err(anyhow::Error::from)
        })
        .collect::<Result<Vec<_>>>()?;
    ctx.register_table(name, Arc::new(parquet_table(urls, schema)?))?;
    Ok(())
}

/// A table over the `.parquet` files at `urls` (files, or folders of
/// them), with a known schema.
pub fn parquet_table(urls: Vec<ListingTableUrl>, schema: SchemaRef) -> Result<ListingTable> {
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(ListingTable::try_new(config)?)
}

/// The schema of `quarantine.parquet`.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(EXTRACT_DATE, DataType::Date32, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("reason_kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("primary_key", DataType::Utf8, true),
        // The row's unit, case and province codes as sent (absent from
        // files written before they were kept: read as null).
        Field::new("unit_code", DataType::Utf8, true),
        Field::new("case_id", DataType::Utf8, true),
        Field::new("province_code", DataType::Utf8, true),
    ]))
}

fn extracts_table(entries: &[&ExtractEntry]) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new(EXTRACT_DATE, DataType::Date32, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("ingested_at", DataType::Utf8, false),
        Field::new("rows_accepted", DataType::UInt64, false),
        Field::new("rows_quarantined", DataType::UInt64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from(
                entries
                    .iter()
                    .map(|e| crate::reference::dates::day_number(e.extract_date))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                entries.iter().map(|e| e.source.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                entries
                    .iter()
                    .map(|e| e.ingested_at.clone())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                entries.iter().map(|e| e.accepted()).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                entries.iter().map(|e| e.quarantined()).collect::<Vec<_>>(),
            )),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

impl Staging {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Moves the staged extract into the store's extract folder, where the
    /// extracts after it in the same run find it. It is not part of the
    /// store until [`Store::commit_extracts`] names it in the catalog; until
    /// then it is a leftover the next ingest removes.
    pub fn place(self, entry: &ExtractEntry) -> Result<()> {
        debug_assert_eq!(entry.dir, self.name);
        sync_dir(&self.dir)?;
        failpoint("before-rename");
        let extracts = self.store.root.join(EXTRACTS);
        let target = extracts.join(&self.name);
        if target.exists() {
            // Not named by the catalog (checked by the caller): a leftover.
            fs::remove_dir_all(&target)?;
        }
        fs::rename(&self.dir, &target)?;
        sync_dir(&extracts)?;
        failpoint("after-rename");
        Ok(())
    }
}
