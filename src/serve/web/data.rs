//! What the pages read: scoring sessions per as-of date, the results of
//! dashboard queries, and the caches that keep both.
//!
//! A session is one DataFusion context over the store as of a date (the
//! expensive part: deduplicated extracts and the stage tables). Periods are
//! scored into it on first use and kept; `league_table`, `indicator_values`
//! and `periods` are re-registered with every period scored so far. Query
//! results are cached per (query, parameters, as-of). An ingest that lands
//! changes the store's catalog, which empties both caches.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use datafusion::arrow::array::{Date32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use tokio::sync::RwLock;

pub use crate::present::table::{Cell, Table};
use crate::score::scoring::{Engine, Period, PeriodKind, Scores, register_scores};
use crate::store::Catalog as StoreCatalog;

const TILES_CSV: &str = include_str!("../../../reference/province_tiles.csv");

/// Sessions kept at once: each holds the scores computed for one as-of
/// date (the facts it reads stay on disk), so the number is bounded.
const MAX_SESSIONS: usize = 2;
/// Query results kept before the cache is emptied and refilled.
const MAX_RESULTS: usize = 2000;
/// Plans and evidence packs kept (each costs a scoring run to rebuild).
const MAX_PACKS: usize = 200;

/// One as-of date's context and the periods scored into it.
pub struct ScoreSession {
    pub as_of: NaiveDate,
    ctx: SessionContext,
    scored: RwLock<BTreeMap<String, Result<Arc<Scores>, String>>>,
}

impl ScoreSession {
    async fn open(engine: &Engine, as_of: NaiveDate) -> Result<ScoreSession> {
        let (ctx, as_of) = engine.context(Some(as_of)).await?;
        register_tiles(&ctx)?;
        register_scores(&ctx, &[])?;
        register_periods(&ctx, &[])?;
        Ok(ScoreSession {
            as_of,
            ctx,
            scored: RwLock::new(BTreeMap::new()),
        })
    }

    /// Scores the periods not scored yet; returns the outcome for each
    /// requested period (an error message for a period that cannot be
    /// scored, e.g. before the coverage).
    pub async fn ensure(
        &self,
        engine: &Engine,
        periods: &[Period],
    ) -> BTreeMap<String, Result<Arc<Scores>, String>> {
        let missing = {
            let s = self.scored.read().await;
            periods.iter().any(|p| !s.contains_key(&p.label))
        };
        if missing {
            let mut s = self.scored.write().await;
            let mut added = false;
            for p in periods {
                if s.contains_key(&p.label) {
                    continue;
                }
                let outcome = match engine.indicators(&self.ctx, p, self.as_of).await {
                    Ok((pe, indicators)) => {
                        let league = engine.league(p, &indicators);
                        Ok(Arc::new(Scores {
                            period: p.clone(),
                            as_of: self.as_of,
                            effective_end: pe,
                            indicators,
                            league,
                        }))
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                added |= outcome.is_ok();
                s.insert(p.label.clone(), outcome);
            }
            if added {
                let all: Vec<Scores> = s
                    .values()
                    .filter_map(|r| r.as_ref().ok())
                    .map(|a| (**a).clone())
                    .collect();
                if let Err(e) =
                    register_scores(&self.ctx, &all).and_then(|_| register_periods(&self.ctx, &all))
                {
                    tracing::error!("registering scores: {e:#}");
                }
            }
        }
        let s = self.scored.read().await;
        periods
            .iter()
            .filter_map(|p| s.get(&p.label).map(|r| (p.label.clone(), r.clone())))
            .collect()
    }

    /// Runs a query with named parameters bound as values. Holds the read
    /// side of the lock so that no period is registered mid-query.
    pub async fn query(&self, sql: &str, params: &[(String, ScalarValue)]) -> Result<Table> {
        let _guard = self.scored.read().await;
        let df = self.ctx.sql(sql).await?;
        let df = if params.is_empty() {
            df
        } else {
            df.with_param_values(
                params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>(),
            )?
        };
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        Table::from_batches(&schema, &batches)
    }

    /// Plans a query without running it: the output columns.
    pub async fn columns(&self, sql: &str) -> Result<Vec<String>> {
        let _guard = self.scored.read().await;
        let df = self.ctx.sql(sql).await?;
        Ok(df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect())
    }
}

fn register_tiles(ctx: &SessionContext) -> Result<()> {
    let mut codes = Vec::new();
    let mut rows = Vec::new();
    let mut cols = Vec::new();
    let mut rdr = csv::Reader::from_reader(TILES_CSV.as_bytes());
    for r in rdr.records() {
        let r = r?;
        codes.push(r[0].to_string());
        rows.push(r[1].parse::<i64>()?);
        cols.push(r[2].parse::<i64>()?);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("province_code", DataType::Utf8, false),
        Field::new("tile_row", DataType::Int64, false),
        Field::new("tile_col", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(codes)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(cols)),
        ],
    )?;
    ctx.register_table(
        "province_tiles",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(())
}

/// `periods(period, kind, period_start)`: the periods scored so far, so
/// that queries can order them and keep those of one kind.
fn register_periods(ctx: &SessionContext, scores: &[Scores]) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("period_start", DataType::Date32, false),
    ]));
    let kind = |k: PeriodKind| match k {
        PeriodKind::Month => "month",
        PeriodKind::Quarter => "quarter",
        PeriodKind::Year => "year",
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                scores.iter().map(|s| s.period.label.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                scores.iter().map(|s| kind(s.period.kind)),
            )),
            Arc::new(Date32Array::from_iter_values(
                scores
                    .iter()
                    .map(|s| crate::reference::dates::day_number(s.period.start)),
            )),
        ],
    )?;
    ctx.deregister_table("periods")?;
    ctx.register_table(
        "periods",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(())
}

/// Computed answers by key, emptied whole when an ingest lands or when
/// the bound is reached (simpler than eviction, and refilled cheaply from
/// the sessions).
struct Cache<V> {
    map: Mutex<HashMap<String, Arc<V>>>,
    bound: usize,
}

impl<V> Cache<V> {
    fn new(bound: usize) -> Cache<V> {
        Cache {
            map: Mutex::new(HashMap::new()),
            bound,
        }
    }

    fn get(&self, key: &str) -> Option<Arc<V>> {
        self.map.lock().expect("lock").get(key).cloned()
    }

    fn keep(&self, key: String, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let mut map = self.map.lock().expect("lock");
        if map.len() >= self.bound {
            map.clear();
        }
        map.insert(key, value.clone());
        value
    }

    fn clear(&self) {
        self.map.lock().expect("lock").clear();
    }
}

/// The caches, and what they were filled from.
pub struct Data {
    pub engine: Engine,
    sessions: tokio::sync::Mutex<Vec<Arc<ScoreSession>>>,
    results: Cache<Table>,
    /// (modified time, length) of the store catalog the caches hold.
    seen: Mutex<Option<(SystemTime, u64)>>,
    catalog: Mutex<Option<Arc<StoreCatalog>>>,
    plans: Cache<crate::score::plan::Plan>,
    pages: Cache<String>,
    files: Cache<CachedFile>,
    evidence: Cache<crate::score::plan::Evidence>,
    /// Raised each time an ingest is seen: a page or file computed from an
    /// earlier catalog is not kept (its URL key says nothing of the
    /// catalog it was computed from).
    epoch: std::sync::atomic::AtomicU64,
}

/// An encoded API answer: the same bytes for every request of its URL
/// until an ingest lands.
pub struct CachedFile {
    pub content_type: &'static str,
    pub provenance: crate::score::scoring::Provenance,
    pub body: axum::body::Bytes,
}

impl Data {
    pub fn new(engine: Engine) -> Data {
        Data {
            engine,
            sessions: tokio::sync::Mutex::new(Vec::new()),
            results: Cache::new(MAX_RESULTS),
            seen: Mutex::new(None),
            catalog: Mutex::new(None),
            plans: Cache::new(MAX_PACKS),
            pages: Cache::new(MAX_RESULTS),
            files: Cache::new(MAX_RESULTS),
            evidence: Cache::new(MAX_PACKS),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Which catalog the caches hold (see [`Data::keep_page`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The store's catalog, re-read (and every cache emptied) when an
    /// ingest has landed since the last look.
    pub async fn catalog(&self) -> Result<Arc<StoreCatalog>> {
        let path = self.engine.store.root().join("catalog.json");
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let changed = *self.seen.lock().expect("lock") != stamp;
        if changed {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let fresh = Arc::new(self.engine.store.catalog()?);
            self.sessions.lock().await.clear();
            self.results.clear();
            self.pages.clear();
            self.files.clear();
            self.plans.clear();
            self.evidence.clear();
            *self.catalog.lock().expect("lock") = Some(fresh.clone());
            *self.seen.lock().expect("lock") = stamp;
            if stamp.is_some() {
                tracing::info!(
                    extracts = fresh.extracts.len(),
                    "store catalog changed; caches emptied"
                );
            }
            return Ok(fresh);
        }
        match self.catalog.lock().expect("lock").clone() {
            Some(c) => Ok(c),
            None => Ok(Arc::new(self.engine.store.catalog()?)),
        }
    }

    /// The session of an (effective) as-of date, opened on first use.
    pub async fn session(&self, as_of: NaiveDate) -> Result<Arc<ScoreSession>> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.iter().find(|s| s.as_of == as_of) {
            return Ok(s.clone());
        }
        let s = Arc::new(ScoreSession::open(&self.engine, as_of).await?);
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(s.clone());
        Ok(s)
    }

    /// A rendered page kept under `key`.
    pub fn page(&self, key: &str) -> Option<Arc<String>> {
        self.pages.get(key)
    }

    /// Keeps a page computed since `epoch` was read, unless an ingest has
    /// been seen meanwhile.
    pub fn keep_page(&self, epoch: u64, key: String, html: String) {
        if epoch == self.epoch() {
            self.pages.keep(key, html);
        }
    }

    /// An API answer kept under `key` (its URL).
    pub fn file(&self, key: &str) -> Option<Arc<CachedFile>> {
        self.files.get(key)
    }

    /// Keeps an answer computed since `epoch` was read, as
    /// [`Data::keep_page`] does.
    pub fn keep_file(&self, epoch: u64, key: String, file: CachedFile) -> Arc<CachedFile> {
        if epoch == self.epoch() {
            self.files.keep(key, file)
        } else {
            Arc::new(file)
        }
    }

    /// The plan of a quarter, computed once per (quarter, capacity, as-of).
    pub async fn plan(
        &self,
        quarter: &str,
        capacity: Option<usize>,
        as_of: NaiveDate,
    ) -> Result<Arc<crate::score::plan::Plan>> {
        let key = format!("{quarter}|{capacity:?}|{as_of}");
        if let Some(p) = self.plans.get(&key) {
            return Ok(p);
        }
        let plan = self.engine.plan(quarter, capacity, Some(as_of)).await?;
        Ok(self.plans.keep(key, plan))
    }

    /// A province's evidence pack, computed once per (quarter, province,
    /// as-of).
    pub async fn evidence(
        &self,
        quarter: &str,
        province: &str,
        as_of: NaiveDate,
    ) -> Result<Arc<crate::score::plan::Evidence>> {
        let key = format!("{quarter}|{province}|{as_of}");
        if let Some(e) = self.evidence.get(&key) {
            return Ok(e);
        }
        let ev = self.engine.evidence(quarter, province, Some(as_of)).await?;
        Ok(self.evidence.keep(key, ev))
    }

    /// A named query's result for these parameters, from the cache when
    /// it holds it.
    pub async fn result(
        &self,
        session: &ScoreSession,
        query_name: &str,
        sql: &str,
        params: &[(String, ScalarValue)],
    ) -> Result<Arc<Table>> {
        let key = format!(
            "{query_name}|{}|{}",
            session.as_of,
            params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        if let Some(t) = self.results.get(&key) {
            return Ok(t);
        }
        let t = session
            .query(sql, params)
            .await
            .with_context(|| format!("running queries/{query_name}.sql"))?;
        Ok(self.results.keep(key, t))
    }
}
