//! Commands on the data: the demo, ingest, status, rebuild, alerts and
//! the synthetic-extract generator.

use super::*;

/// A line of an ingest's report on standard output. A reader that went
/// away (`vigil ingest … | head`) must not stop an ingest midway, losing
/// the group it was in, as the panic of `println!` would: a failed write
/// of the report is ignored and the ingest goes on.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to build the demo store (replaced on every run).
    #[arg(long, default_value = "vigil-demo-store")]
    pub store: PathBuf,
    /// The sample data folder (default: the repository's sample-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to serve the dashboards (a free port is chosen when this
    /// one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Stop after printing the league table instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    pub path: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// File holding the pseudonymization key (default: $VIGIL_HMAC_KEY).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Print every quarantined row, not only the counts.
    #[arg(long)]
    pub show_quarantine: bool,
    /// The alert rules evaluated once the extracts have landed
    /// (default: the shipped reference/alerts.toml).
    #[arg(long, env = "VIGIL_ALERTS")]
    pub alerts: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct AlertsArgs {
    #[arg(long, env = "VIGIL_ALERTS")]
    pub alerts: Option<PathBuf>,
    #[arg(long)]
    pub deliver: bool,
    /// vi or en.
    #[arg(long, default_value = "vi")]
    pub lang: String,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Show the store as of this date (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Output folder (one sub-folder per extract).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 1 ≈ the real VSS volume (about 50,000 cases a year); 41 ≈ 10
    /// million cases over 2022-01..2026-10.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    #[arg(long, value_enum, default_value_t = FormatArg::Mixed)]
    pub format: FormatArg,
    /// First month, YYYY-MM.
    #[arg(long, default_value = "2022-01")]
    pub from: String,
    /// Last month, YYYY-MM.
    #[arg(long, default_value = "2026-10")]
    pub to: String,
}

impl DemoArgs {
    pub fn run(self) -> Result<()> {
        let DemoArgs {
            store,
            data,
            bind,
            no_serve,
        } = self;
        demo(&store, data)?;
        if no_serve {
            return Ok(());
        }
        let engine =
            crate::score::scoring::Engine::bundled(Store::open_existing(&store)?).keeping_counts();
        let service = ServiceArgs::default();
        super::serve::serve(
            engine,
            bind,
            &WebArgs::default(),
            None,
            &service,
            None,
            true,
        )
    }
}

impl IngestArgs {
    pub fn run(self) -> Result<()> {
        let IngestArgs {
            path,
            store,
            key_file,
            show_quarantine,
            alerts,
        } = self;
        let rules = load_alerts(alerts.as_deref())?;
        let key = Key::from_config(key_file.as_deref())?;
        let store = Store::open(&store.store_dir)?;
        ingest_all(&store, &path, &key, show_quarantine)?;
        alerts_after_ingest(&store, &rules);
        Ok(())
    }
}

impl AlertsArgs {
    pub fn run(self) -> Result<()> {
        let AlertsArgs {
            alerts,
            deliver,
            lang,
            store,
        } = self;
        let rules = load_alerts(alerts.as_deref())?;
        let lang = parse_lang(&lang)?;
        let store = Store::open_existing(&store.store_dir)?;
        let engine = crate::score::scoring::Engine::bundled(store.clone()).keeping_counts();
        let rt = runtime()?;
        let events = rt.block_on(crate::score::alerts::run(&engine, &rules))?;
        print_events(&events);
        print_open(&crate::score::alerts::load_state(store.root())?, lang);
        if deliver {
            let hook = rules
                .webhook
                .as_ref()
                .context("--deliver needs a [webhook] in the alert rules")?;
            let pause = std::time::Duration::from_secs(1);
            let n = rt.block_on(crate::score::alerts::deliver(store.root(), hook, pause))?;
            println!("{n} event(s) delivered to {}", hook.url);
        }
        Ok(())
    }
}

impl RebuildArgs {
    pub fn run(self) -> Result<()> {
        let RebuildArgs { store } = self;
        rebuild(&Store::open_existing(&store.store_dir)?)
    }
}

impl StatusArgs {
    pub fn run(self) -> Result<()> {
        let StatusArgs { store, as_of } = self;
        let store = Store::open_existing(&store.store_dir)?;
        print_status(&store, as_of)
    }
}

impl GenerateArgs {
    pub fn run(self) -> Result<()> {
        let GenerateArgs {
            out,
            seed,
            scale,
            format,
            from,
            to,
        } = self;
        if !(scale > 0.0 && scale.is_finite()) {
            bail!("--scale must be a positive number");
        }
        let opts = GenerateOptions {
            out,
            seed,
            scale,
            first_month: parse_month(&from)?,
            last_month: parse_month(&to)?,
            format: match format {
                FormatArg::Csv => OutputFormat::Csv,
                FormatArg::Parquet => OutputFormat::Parquet,
                FormatArg::Mixed => OutputFormat::Mixed,
            },
            progress: true,
        };
        let t = Instant::now();
        let summary = generate::generate(&opts)?;
        println!(
            "wrote {} extracts to {} in {:.1} s: {} cases",
            summary.extracts,
            opts.out.display(),
            t.elapsed().as_secs_f64(),
            summary.cases
        );
        for (table, rows) in &summary.rows {
            println!("  {table:<20} {rows:>12} rows");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Csv,
    Parquet,
    Mixed,
}

pub(super) fn parse_month(s: &str) -> Result<(i32, u32)> {
    let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .with_context(|| format!("'{s}' is not a month YYYY-MM"))?;
    use chrono::Datelike;
    Ok((d.year(), d.month()))
}

fn demo(store_path: &Path, data: Option<PathBuf>) -> Result<()> {
    let data = sample_data_dir(data)?;
    if store_path.exists() {
        if !store_path.join("catalog.json").exists() {
            bail!(
                "{} exists and is not a vigil store; choose another --store",
                store_path.display()
            );
        }
        std::fs::remove_dir_all(store_path)?;
    }
    let store = Store::open(store_path)?;
    println!(
        "demo: pseudonymizing requesters with the public demo key (never use it for real data)"
    );
    let key = Key::demo();
    ingest_all(&store, &data.join("extracts"), &key, false)?;
    let dirty = data.join("dirty");
    if dirty.is_dir() {
        println!("demo: the deliberately dirty extract, every bad row quarantined:");
        ingest_all(&store, &dirty, &key, true)?;
    }
    alerts_after_ingest(&store, &crate::score::alerts::Alerts::bundled());
    print_status(&store, None)?;
    // The league table of the last whole quarter before the as-of date.
    let as_of = store
        .catalog()?
        .effective_as_of(None)
        .context("the demo store is empty")?;
    let quarter = crate::score::scoring::Period::last_complete_quarter(as_of);
    let engine = crate::score::scoring::Engine::bundled(store.clone()).keeping_counts();
    let scores = runtime()?.block_on(engine.score(&quarter.label, None))?;
    println!();
    print!("{}", super::scores::league_text(&scores));
    println!(
        "\ndemo store: {} (try `vigil score --store {} --period {} --format csv`)",
        store.root().display(),
        store.root().display(),
        quarter.label
    );
    println!(
        "feedback to the provinces on the latest extract: `vigil feedback --store {} --extract {as_of} --out feedback`",
        store.root().display(),
    );
    Ok(())
}

fn sample_data_dir(data: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(d) = data {
        return Ok(d);
    }
    let local = PathBuf::from("sample-data");
    if local.is_dir() {
        return Ok(local);
    }
    let bundled = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data"));
    if bundled.is_dir() {
        return Ok(bundled);
    }
    bail!("cannot find sample-data/; pass --data DIR")
}

/// Ingests one extract or a folder of extracts; stops at the first
/// rejected extract (later ones would be out of order without it).
fn ingest_all(store: &Store, path: &Path, key: &Key, show_quarantine: bool) -> Result<()> {
    let reference = Reference::bundled();
    let dirs = ingest::extract_dirs(path)?;
    let started = Instant::now();
    let mut total_rows = 0u64;
    // Extracts are committed in groups (see extract::run); a rejected one
    // is reported after those before it are committed.
    let mut run = crate::extract::run::Run::open(store, &reference)?;
    let dirs: Vec<PathBuf> = dirs.into_iter().map(|(_, dir)| dir).collect();
    let mut t = Instant::now();
    let added = run.add_all(&dirs, key, |outcome| {
        report_outcome(
            &outcome,
            t.elapsed().as_secs_f64(),
            show_quarantine,
            &mut total_rows,
        );
        t = Instant::now();
    });
    if let Err(e) = added {
        let waiting = run.uncommitted();
        return Err(match run.commit() {
            Ok(()) => e,
            // Groups committed earlier in the run stay; only the one the
            // failure fell in is lost.
            Err(c) => e.context(format!(
                "{waiting} extract(s) accepted since the run's last commit were not committed \
                 ({c:#}); the extracts committed before them stay, and the next ingest takes up \
                 the rest"
            )),
        });
    }
    run.commit()?;
    let secs = started.elapsed().as_secs_f64();
    if total_rows > 0 {
        report!(
            "ingested {total_rows} rows in {secs:.1} s ({:.0} rows/s)",
            total_rows as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}

/// Prints what became of one extract of a run, `secs` after the one
/// before, and adds its rows to `total_rows`.
fn report_outcome(outcome: &Outcome, secs: f64, show_quarantine: bool, total_rows: &mut u64) {
    match outcome {
        Outcome::AlreadyIngested { extract_date } => {
            report!("{extract_date}: already ingested with identical content; nothing changed");
        }
        Outcome::Ingested {
            entry,
            tables,
            quarantined,
            warnings,
        } => {
            let rows: u64 = tables.values().map(|t| t.rows).sum();
            *total_rows += rows;
            report!(
                "{}: {} rows accepted, {} quarantined ({:.2} s)",
                entry.extract_date,
                entry.accepted(),
                entry.quarantined(),
                secs
            );
            for (name, t) in tables {
                if t.quarantined > 0 {
                    report!(
                        "    {name:<20} {:>9} accepted {:>7} quarantined",
                        t.accepted,
                        t.quarantined
                    );
                }
            }
            for (reason, n) in &entry.quarantine_reasons {
                report!("    reason {reason:<22} {n:>7}");
            }
            for w in warnings {
                report!("    warning: {w}");
            }
            if show_quarantine {
                for q in quarantined {
                    report!(
                        "    {}:{} [{}] {}: {}",
                        q.file,
                        q.line,
                        q.problem.column.unwrap_or("-"),
                        q.problem.kind,
                        q.problem.message
                    );
                }
            }
        }
    }
}

/// Evaluates the alerts once extracts have landed; a failure is reported,
/// never turned into a failed ingest (the extracts are committed).
/// Then keeps the counts of the periods the league page opens on.
fn alerts_after_ingest(store: &Store, rules: &crate::score::alerts::Alerts) {
    let engine = crate::score::scoring::Engine::bundled(store.clone()).keeping_counts();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return not_evaluated(e),
    };
    match rt.block_on(crate::score::alerts::run(&engine, rules)) {
        Ok(events) => print_events(&events),
        Err(e) => not_evaluated(e),
    }
    if let Err(e) = rt.block_on(keep_league_counts(&engine)) {
        tracing::warn!("the league's counts were not kept ahead: {e:#}");
    }
}

fn not_evaluated(e: anyhow::Error) {
    eprintln!(
        "vigil: the alerts were not evaluated: {e:#} (the extracts are committed; `vigil alerts` retries)"
    );
}

/// Counts, and keeps, the last complete quarter as of the latest extract
/// and the one before: what the league page opens on, so that the first
/// page after an ingest reads them. Usually the alerts counted both
/// already, and this only finds them kept. A period outside the coverage
/// is left to the page, which says why.
async fn keep_league_counts(engine: &crate::score::scoring::Engine) -> Result<()> {
    let Some(latest) = engine.store.catalog()?.latest().map(|e| e.extract_date) else {
        return Ok(());
    };
    let quarter = crate::score::scoring::Period::last_complete_quarter(latest);
    let (ctx, as_of) = engine.context(Some(latest)).await?;
    for p in [quarter.previous(), quarter] {
        if engine.effective_end(&p, as_of).is_ok() {
            engine.indicators(&ctx, &p, as_of).await?;
        }
    }
    Ok(())
}

fn print_events(events: &[crate::score::alerts::Event]) {
    for e in events {
        let who = e.alert.found.province_name.as_deref().unwrap_or("national");
        report!(
            "alert {}: {} — {}: {}",
            e.event,
            e.alert.found.rule,
            who,
            e.alert.found.detail_en
        );
    }
}

fn print_open(state: &crate::score::alerts::State, lang: crate::present::i18n::Lang) {
    let as_of = state.evaluated.map_or("—".into(), |d| d.to_string());
    println!("{} open alert(s) as of {as_of}", state.open.len());
    for a in state.open.values() {
        let f = &a.found;
        let detail = if lang == crate::present::i18n::Lang::Vi {
            &f.detail_vi
        } else {
            &f.detail_en
        };
        println!(
            "  {:<20} {:<4} {:<22} {detail} (since {})",
            f.rule,
            f.province_code.as_deref().unwrap_or("—"),
            f.province_name.as_deref().unwrap_or("national"),
            a.first_seen
        );
    }
}

/// Rebuilds the facts of every stored extract and commits them.
fn rebuild(store: &Store) -> Result<()> {
    let started = Instant::now();
    let derivation = crate::facts::Derivation::bundled();
    let state =
        crate::facts::run_blocking(crate::facts::rebuild_and_commit(store, &derivation, |_| {
            true
        }))?;
    match state {
        Some(state) => println!(
            "facts rebuilt from {} extracts (through {}) in {:.2} s",
            store.catalog()?.extracts.len(),
            state.through,
            started.elapsed().as_secs_f64()
        ),
        None => println!("the store holds no extract: nothing to build"),
    }
    Ok(())
}

/// Prints the committed extracts and the current row counts of each table.
fn print_status(store: &Store, as_of: Option<NaiveDate>) -> Result<()> {
    let cat = store.catalog()?;
    let effective = cat.effective_as_of(as_of);
    println!("store: {}", store.root().display());
    println!(
        "{:<12} {:>10} {:>12}  source",
        "extract", "accepted", "quarantined"
    );
    for e in cat
        .extracts
        .iter()
        .filter(|e| effective.is_some_and(|d| e.extract_date <= d))
    {
        println!(
            "{:<12} {:>10} {:>12}  {}",
            e.extract_date.to_string(),
            e.accepted(),
            e.quarantined(),
            e.source
        );
    }
    let Some(effective) = effective else {
        println!("(no extract on or before the requested date)");
        return Ok(());
    };
    match (
        &cat.facts,
        crate::facts::stale_reason(&cat, &crate::facts::Derivation::bundled()),
    ) {
        (Some(f), None) => println!(
            "facts: facts/{} through {}, generation {}, layout {}",
            f.dir,
            f.through,
            f.generation,
            format!("{:?}", f.layout).to_lowercase()
        ),
        (_, Some(reason)) => println!("facts: to be rebuilt on next use ({reason})"),
        (None, None) => {}
    }
    let prov = crate::score::scoring::Engine::bundled(store.clone()).provenance(&cat, effective);
    println!(
        "store fingerprint as of {effective}: {} (printed on every export computed as of that date)",
        prov.store_fingerprint
    );
    println!("as of {effective}:");
    let rt = runtime()?;
    rt.block_on(async {
        let ctx = SessionContext::new();
        store.register(&ctx, Some(effective)).await?;
        for t in Table::ALL {
            let n = count(&ctx, &format!("SELECT count(*) FROM {}", t.name())).await?;
            let v = count(&ctx, &format!("SELECT count(*) FROM {}_history", t.name())).await?;
            println!(
                "  {:<20} {n:>10} current rows {v:>10} stored versions",
                t.name()
            );
        }
        let df = ctx
            .sql(
                "SELECT reason_kind, count(*) AS rows FROM quarantine \
                 GROUP BY reason_kind ORDER BY rows DESC, reason_kind",
            )
            .await?;
        let batches = df.collect().await?;
        if batches.iter().any(|b| b.num_rows() > 0) {
            println!("quarantined rows by reason:");
            println!(
                "{}",
                datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
            );
        }
        Ok::<_, anyhow::Error>(())
    })
}

pub(super) async fn count(ctx: &SessionContext, sql: &str) -> Result<i64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let col = batches[0].column(0);
    let arr = col
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .context("count(*) is Int64")?;
    Ok(arr.value(0))
}
