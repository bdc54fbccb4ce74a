//! Commands that print scores and what follows from them: score,
//! indicators, explain, plan, evidence, the quarterly report, feedback.

use super::*;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The province code (e.g. 24).
    #[arg(long)]
    pub province: String,
    /// The later period: a month, quarter or year.
    #[arg(long)]
    pub period: String,
    /// The earlier period (default: the one before --period).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// vi or en.
    #[arg(long, default_value = "vi")]
    pub lang: String,
    /// Print the JSON of the split instead of sentences.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The quarter to plan, e.g. 2026-Q4 (risk comes from the quarter before).
    #[arg(long)]
    pub quarter: String,
    /// How many provinces the inspectorate can inspect (default: rules file).
    #[arg(long)]
    pub capacity: Option<usize>,
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
    /// Language of the reasons in the table form.
    #[arg(long, default_value = "vi")]
    pub lang: String,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The quarter, e.g. 2026-Q3 (default: the last whole quarter).
    #[arg(long)]
    pub quarter: Option<String>,
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[arg(long, default_value = "vi")]
    pub lang: String,
    /// The PDF to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct EvidenceArgs {
    #[arg(long)]
    pub quarter: String,
    /// Province code, e.g. 24.
    #[arg(long)]
    pub province: String,
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
    /// With --format csv: which list (overdue_cases, head_reception_gaps,
    /// stale_accounts, entry_gaps, repeat_requesters).
    #[arg(long)]
    pub list: Option<String>,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(clap::Args, Debug)]
pub struct FeedbackArgs {
    /// The extract's date (YYYY-MM-DD), as stored.
    #[arg(long)]
    pub extract: NaiveDate,
    /// Only this province (code, e.g. 24); default: all 34 and the
    /// national file.
    #[arg(long)]
    pub province: Option<String>,
    /// Language of the files: vi or en.
    #[arg(long, default_value = "vi")]
    pub lang: String,
    /// The folder the files are written to.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
}

impl ExplainArgs {
    pub fn run(self) -> Result<()> {
        let ExplainArgs {
            province,
            period,
            from,
            as_of,
            lang,
            json,
            store,
        } = self;
        let lang = parse_lang(&lang)?;
        let engine = store.engine()?;
        let change = runtime()?.block_on(crate::score::explain::change(
            &engine,
            &province,
            &period,
            from.as_deref(),
            as_of,
        ))?;
        if json {
            println!("{}", serde_json::to_string_pretty(&change)?);
        } else {
            println!("{} ({})", change.province_name, change.province_code);
            for line in crate::score::explain::words(lang, &change) {
                println!("  {line}");
            }
        }
        Ok(())
    }
}

impl PlanArgs {
    pub fn run(self) -> Result<()> {
        let PlanArgs {
            quarter,
            capacity,
            as_of,
            format,
            lang,
            out,
            store,
        } = self;
        let lang = parse_lang(&lang)?;
        let engine = store.engine()?;
        let plan = runtime()?.block_on(engine.plan(&quarter, capacity, as_of))?;
        let bytes = match format {
            PlanFormat::Table => crate::score::plan::plan_text(&plan, lang).into_bytes(),
            PlanFormat::Csv => {
                crate::serve::web::render::csv(&crate::score::plan::plan_table(&plan))?
            }
            PlanFormat::Json => serde_json::to_vec_pretty(&plan)?,
        };
        emit(out.as_deref(), &bytes)
    }
}

impl ReportArgs {
    pub fn run(self) -> Result<()> {
        let ReportArgs {
            quarter,
            as_of,
            lang,
            out,
            store,
        } = self;
        let lang = parse_lang(&lang)?;
        let engine = store.engine()?;
        let catalog = crate::present::dashboards::Catalog::load(None, None)?;
        let state = crate::serve::web::AppState::new(engine, catalog)?;
        let req = crate::serve::report::ReportRequest {
            quarter,
            as_of,
            lang,
        };
        crate::serve::report::write_pdf(state, &req, &out)?;
        println!("wrote {}", out.display());
        Ok(())
    }
}

impl EvidenceArgs {
    pub fn run(self) -> Result<()> {
        let EvidenceArgs {
            quarter,
            province,
            as_of,
            format,
            list,
            out,
            store,
        } = self;
        let engine = store.engine()?;
        let ev = runtime()?.block_on(engine.evidence(&quarter, &province, as_of))?;
        let bytes = match format {
            PlanFormat::Json => serde_json::to_vec_pretty(&ev)?,
            PlanFormat::Csv => {
                let id = list.context("--format csv writes one list: give it with --list")?;
                let t = ev.list(&id).with_context(|| {
                    format!(
                        "no list '{id}'; the lists are {}",
                        crate::score::plan::EVIDENCE.map(|e| e.0).join(", ")
                    )
                })?;
                crate::serve::web::render::csv(t)?
            }
            PlanFormat::Table => evidence_text(&ev).into_bytes(),
        };
        emit(out.as_deref(), &bytes)
    }
}

/// The evidence pack as text: each list's first 50 rows.
fn evidence_text(ev: &crate::score::plan::Evidence) -> String {
    let mut text = format!(
        "Evidence for province {} (plan {}, counted in {} to {}, as of {})\n",
        ev.province_code, ev.quarter, ev.scored_period, ev.counted_to, ev.as_of
    );
    for (id, t) in ev
        .lists
        .iter()
        .map(|(i, t)| (i.as_str(), t.as_ref()))
        .chain([("inspections", ev.inspections.as_ref())])
    {
        text.push_str(&format!("\n{id}: {} rows\n", t.rows.len()));
        text.push_str(&t.columns.join(" | "));
        text.push('\n');
        for r in t.rows.iter().take(50) {
            text.push_str(&r.iter().map(|c| c.plain()).collect::<Vec<_>>().join(" | "));
            text.push('\n');
        }
        if t.rows.len() > 50 {
            text.push_str(&format!(
                "… {} more (use --format csv --list {id})\n",
                t.rows.len() - 50
            ));
        }
    }
    text
}

impl FeedbackArgs {
    pub fn run(self) -> Result<()> {
        let FeedbackArgs {
            extract,
            province,
            lang,
            out,
            store,
        } = self;
        let lang = parse_lang(&lang)?;
        let engine = store.engine()?;
        let lines = runtime()?.block_on(crate::score::feedback::write_reports(
            &engine,
            extract,
            province.as_deref(),
            lang,
            &out,
        ))?;
        for l in lines {
            println!("{l}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ScoreArgs {
    /// A month 2026-03, a quarter 2026-Q3 or a year 2026.
    #[arg(long)]
    pub period: String,
    /// Use only extracts dated on or before this date (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Write to this file instead of standard output (required for parquet).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Table,
    Csv,
    Json,
}

pub(super) fn score(args: &ScoreArgs, long_form: bool) -> Result<()> {
    let store = Store::open_existing(&args.store.store_dir)?;
    let engine = crate::score::scoring::Engine::bundled(store)
        .with_cluster(args.cluster.cluster(&args.store.store_dir)?);
    let scores = runtime()?.block_on(engine.score(&args.period, args.as_of))?;
    if args.format == TableFormat::Parquet && args.out.is_none() {
        bail!("--format parquet writes a binary file: give it with --out FILE");
    }
    if args.format == TableFormat::Table && !long_form {
        let text = league_text(&scores);
        return emit(args.out.as_deref(), text.as_bytes());
    }
    let batch = if long_form {
        crate::score::scoring::indicator_batch(&scores.indicators)?
    } else {
        crate::score::scoring::league_batch(&scores)?
    };
    let bytes = crate::present::export::encode(&batch, args.format)?;
    emit(args.out.as_deref(), &bytes)
}

fn fmt_score(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "–".to_string())
}

/// The league table as a terminal reads it.
pub(super) fn league_text(scores: &crate::score::scoring::Scores) -> String {
    let mut rows: Vec<&crate::score::scoring::LeagueRow> = scores.league.iter().collect();
    rows.sort_by_key(|r| (r.rank.unwrap_or(u32::MAX), r.province_code.clone()));
    let mut out = format!(
        "League table {} (as of {}, counted to {})\n{:>4}  {:<7} {:<24} {:>9} {:>4} {:>8} {:>8} {:>8}  {}\n",
        scores.period.label,
        scores.as_of,
        scores.effective_end,
        "rank",
        "code",
        "province",
        "composite",
        "tier",
        "R",
        "D",
        "E",
        "rank interval"
    );
    for r in rows {
        let interval = match (r.rank_lo, r.rank_hi) {
            (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
            _ => "–".to_string(),
        };
        let name: String = r.province_name.chars().take(24).collect();
        out.push_str(&format!(
            "{:>4}  {:<7} {:<24} {:>9} {:>4} {:>8} {:>8} {:>8}  {}\n",
            r.rank.map(|x| x.to_string()).unwrap_or_else(|| "–".into()),
            r.province_code,
            name,
            fmt_score(r.composite),
            r.tier,
            fmt_score(r.reception_score),
            fmt_score(r.deadlines_score),
            fmt_score(r.data_entry_score),
            interval
        ));
    }
    out
}
