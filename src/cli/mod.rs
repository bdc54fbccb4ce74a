//! The command line: parses arguments and runs the subcommands.
//!
//! Each subcommand is a thin layer over a library module, so everything the
//! command line does is also reachable (and tested) as a library call.
//!
//! `mod.rs` holds the command tree and its dispatch; the commands live by
//! what they work on: [`data`] (demo, ingest, status, rebuild, alerts,
//! generate), [`scores`] (score, indicators, explain, plan, evidence,
//! report, feedback) and [`serve`] (serve, sql, users, the cluster's nodes,
//! the query worker).

mod data;
mod scores;
mod serve;

pub use scores::ScoreArgs;
pub use serve::{ClusterNode, ServiceArgs, UsersAction, WebArgs};

// Also what the command files share: each of them starts `use super::*`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use datafusion::prelude::SessionContext;

use crate::extract::generate::{self, GenerateOptions, OutputFormat};
use crate::extract::ingest::{self, Outcome};
use crate::extract::pseudonym::Key;
use crate::present::export::TableFormat;
use crate::reference::Reference;
use crate::reference::contract::Table;
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Scores Vietnam Social Security provinces on citizen reception, complaint and \
             denunciation handling, and national-database entry",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ingest the bundled sample extracts into a fresh demo store and show
    /// what was stored (uses a public throwaway pseudonymization key).
    Demo(data::DemoArgs),
    /// Why a province's score moved: the change of its composite and area
    /// scores from one period to another, split exactly by indicator.
    Explain(scores::ExplainArgs),
    /// Internal: one analyst-query worker process of `vigil serve`.
    #[command(hide = true)]
    SqlWorker(serve::SqlWorkerArgs),
    /// Run a node of a vigil cluster (Apache DataFusion Ballista): one
    /// scheduler, any number of executors; `--cluster HOST:PORT` on
    /// `score`, `indicators`, `sql` and `serve` sends their queries there.
    Cluster {
        #[command(subcommand)]
        node: ClusterNode,
    },
    /// Serve the dashboards, downloads and JSON API over HTTP.
    Serve(serve::ServeArgs),
    /// Manage the users file: `vigil users add NAME --role ROLE --file F`
    /// creates (or resets) a user with a random password and API token,
    /// printed once; only their hashes are stored.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Validate extracts and add them to the store. PATH is one extract
    /// folder (with manifest.json) or a folder of extract folders, ingested
    /// in extract-date order. Bad rows are quarantined with their reason;
    /// an unreadable file rejects the whole extract and changes nothing.
    Ingest(data::IngestArgs),
    /// Evaluate the alert rules as of the latest extract (as every ingest
    /// does), print the open alerts, and with --deliver POST the outbox's
    /// undelivered events to the rules file's webhook.
    Alerts(data::AlertsArgs),
    /// Build the facts scoring reads afresh from every stored extract (done
    /// by itself when the rules file, the calendar or the lineage change, or
    /// for a store written by an earlier version). Nothing else changes.
    Rebuild(data::RebuildArgs),
    /// Show the extracts in the store, their rows and quarantine counts.
    Status(data::StatusArgs),
    /// Print the league table of a period: every province's indicators,
    /// area scores, composite, tier, rank and rank interval.
    Score(ScoreArgs),
    /// Print every indicator's numerator, denominator and value per
    /// province (the long form).
    Indicators(ScoreArgs),
    /// The risk-based responsibility-inspection plan of a quarter: the
    /// chosen provinces with risk, its four terms and reasons, those that
    /// just missed the cut, and those excluded by the 12-month rule.
    Plan(scores::PlanArgs),
    /// The quarterly report for the leadership's meeting, as an A4 PDF:
    /// cover, summary, league table, national picture, a page per province
    /// in tier D or with an open alert, next quarter's plan, method and
    /// caveats (printed by headless Chromium from the /report page).
    Report(scores::ReportArgs),
    /// The evidence pack of one province for a quarter's plan: open overdue
    /// cases, unit-months without head reception, stale accounts, records
    /// not entered or entered late, repeat requesters (pseudonymous).
    Evidence(scores::EvidenceArgs),
    /// Data-quality feedback on one extract, ready to send: per province,
    /// its quarantined rows with the reason in plain words and the rule
    /// broken, its records entered late in the national database, the
    /// tables the extract lacked and how it compares with the previous
    /// extracts; one workbook and one CSV per province, and a national
    /// file of the rows no province can be sent.
    Feedback(scores::FeedbackArgs),
    /// Run read-only SQL over the store through the same guard as the web
    /// service: `-c "SELECT ..."`, `-f file.sql`, or an interactive prompt
    /// (end a query with `;`, `\\d` lists the tables, `\\q` quits).
    Sql(serve::SqlArgs),
    /// Write a realistic series of synthetic monthly extracts.
    Generate(data::GenerateArgs),
}

impl Command {
    /// The store argument of a command that has one.
    fn store_arg_mut(&mut self) -> Option<&mut StoreArg> {
        match self {
            Command::Serve(serve::ServeArgs { store, .. })
            | Command::Explain(scores::ExplainArgs { store, .. })
            | Command::Ingest(data::IngestArgs { store, .. })
            | Command::Alerts(data::AlertsArgs { store, .. })
            | Command::Rebuild(data::RebuildArgs { store })
            | Command::Status(data::StatusArgs { store, .. })
            | Command::Plan(scores::PlanArgs { store, .. })
            | Command::Report(scores::ReportArgs { store, .. })
            | Command::Evidence(scores::EvidenceArgs { store, .. })
            | Command::Feedback(scores::FeedbackArgs { store, .. })
            | Command::Sql(serve::SqlArgs { store, .. }) => Some(store),
            Command::Score(a) | Command::Indicators(a) => Some(&mut a.store),
            _ => None,
        }
    }

    /// The cluster argument of a command that can run on a cluster.
    fn cluster_arg_mut(&mut self) -> Option<&mut ClusterArg> {
        match self {
            Command::Serve(serve::ServeArgs { cluster, .. })
            | Command::Sql(serve::SqlArgs { cluster, .. }) => Some(cluster),
            Command::Score(a) | Command::Indicators(a) => Some(&mut a.cluster),
            _ => None,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArg {
    /// The store: a directory, or S3-compatible object storage as
    /// s3://bucket/prefix (credentials, region and endpoint from the AWS_*
    /// variables; see docs/store.md).
    #[arg(long = "store", env = "VIGIL_STORE", default_value = "store")]
    pub store_dir: PathBuf,
    /// The local cache of a store on object storage (default
    /// $XDG_CACHE_HOME/vigil or ~/.cache/vigil).
    #[arg(long = "cache", env = "VIGIL_CACHE")]
    pub cache: Option<PathBuf>,
}

impl StoreArg {
    /// The scoring engine over an existing store, with the shipped rules.
    fn engine(&self) -> Result<crate::score::scoring::Engine> {
        Ok(crate::score::scoring::Engine::bundled(
            Store::open_existing(&self.store_dir)?,
        ))
    }
}

/// `--cluster`: where the heavy queries of a command run.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArg {
    /// Run the scoring and analyst queries on a vigil cluster: the
    /// scheduler's HOST:PORT (see `vigil cluster`). Ranks, bootstrap and
    /// charts stay in this process.
    #[arg(long = "cluster", env = "VIGIL_CLUSTER")]
    pub scheduler: Option<String>,
    /// With --cluster: give a scoring query up, with an error, when the
    /// cluster has not finished it after this many seconds.
    #[arg(
        long = "cluster-timeout-secs",
        env = "VIGIL_CLUSTER_TIMEOUT_SECS",
        default_value_t = crate::score::cluster::DEFAULT_DEADLINE_SECS
    )]
    pub timeout_secs: u64,
    /// The s3:// URL the store was pulled from (set when --store is one):
    /// the executors read its objects rather than this machine's cache.
    #[arg(skip)]
    pub object_url: Option<String>,
}

impl ClusterArg {
    fn cluster(&self, store_dir: &Path) -> Result<Option<crate::score::cluster::Cluster>> {
        let cluster = crate::score::cluster::Cluster::from_args(
            self.scheduler.as_deref(),
            store_dir,
            self.object_url.as_deref(),
        )?;
        Ok(cluster.map(|c| c.with_deadline(self.timeout_secs)))
    }
}

/// The alert rules: a file, or the shipped ones.
fn load_alerts(path: Option<&Path>) -> Result<crate::score::alerts::Alerts> {
    match path {
        Some(p) => crate::score::alerts::Alerts::load(p),
        None => Ok(crate::score::alerts::Alerts::bundled()),
    }
}

/// `--lang`: vi or en.
fn parse_lang(lang: &str) -> Result<crate::present::i18n::Lang> {
    crate::present::i18n::Lang::parse(lang).context("--lang is vi or en")
}

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,tower_http=info,vigil=info")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub fn run(mut cli: Cli) -> Result<()> {
    // A store on object storage: the command runs on a local cache pulled
    // from it, and an ingest or rebuild commits back (crate::store::remote).
    let writer = matches!(cli.command, Command::Ingest(_) | Command::Rebuild(_));
    let may_be_empty = matches!(cli.command, Command::Ingest(_) | Command::Serve(_));
    let mut remote = None;
    if let Some(arg) = cli.command.store_arg_mut()
        && let Some(url) = arg
            .store_dir
            .to_str()
            .filter(|s| crate::store::remote::parse_url(s).is_some())
            .map(str::to_string)
    {
        let root = arg
            .cache
            .clone()
            .unwrap_or_else(crate::store::remote::default_cache_root);
        let cache = crate::store::remote::cache_dir(&root, &url);
        let pulled = crate::store::remote::Remote::pull(&url, &cache, writer, !may_be_empty)?;
        arg.store_dir = cache;
        remote = Some(pulled);
        if let Some(c) = cli.command.cluster_arg_mut() {
            c.object_url = Some(url);
        }
    }
    let result = run_command(cli.command);
    match remote {
        Some(remote) if writer => {
            // Also after a failed ingest: the extracts it committed before
            // the failure are committed to the remote store too.
            let pushed = remote.push();
            match (result, pushed) {
                (result, Ok(_)) => result,
                (Ok(()), Err(e)) => Err(e),
                (Err(e), Err(p)) => Err(e.context(format!("{p:#}"))),
            }
        }
        _ => result,
    }
}

/// Commands that read the store and print: a closed standard output
/// (`vigil status | head`) ends them quietly, as it ends any Unix tool,
/// instead of a panic at the next `println!`. Rust ignores SIGPIPE so
/// that a write returns an error; these commands have nothing to do with
/// that error but stop. (Commands with pipes to processes of their own,
/// the server and the SQL surface, keep ignoring it; sockets never raise
/// it.)
fn end_quietly_on_closed_stdout(command: &Command) {
    let prints_only = matches!(
        command,
        Command::Status(_)
            | Command::Score(_)
            | Command::Indicators(_)
            | Command::Explain(_)
            | Command::Plan(_)
            | Command::Evidence(_)
    );
    #[cfg(unix)]
    if prints_only {
        // SAFETY: restores the default action of one signal before any
        // thread of the command starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

fn run_command(command: Command) -> Result<()> {
    end_quietly_on_closed_stdout(&command);
    match command {
        Command::Demo(args) => args.run(),
        Command::Serve(args) => args.run(),
        Command::Explain(args) => args.run(),
        Command::SqlWorker(args) => args.run(),
        Command::Cluster { node } => serve::cluster_node(node),
        Command::Users { action } => serve::users(action),
        Command::Ingest(args) => args.run(),
        Command::Alerts(args) => args.run(),
        Command::Rebuild(args) => args.run(),
        Command::Status(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Report(args) => args.run(),
        Command::Evidence(args) => args.run(),
        Command::Feedback(args) => args.run(),
        Command::Sql(args) => args.run(),
        Command::Score(args) => scores::score(&args, false),
        Command::Indicators(args) => scores::score(&args, true),
        Command::Generate(args) => args.run(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(crate::facts::query_runtime().build()?)
}

fn emit(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::data::parse_month;
    use super::serve::split_statements;
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scripts_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_statements("SELECT 1; SELECT ';' -- a; comment\n; SELECT 2"),
            ["SELECT 1", "SELECT ';'", "SELECT 2"]
        );
    }

    #[test]
    fn months_parse() {
        assert_eq!(parse_month("2025-07").unwrap(), (2025, 7));
        assert!(parse_month("2025-13").is_err());
    }
}
