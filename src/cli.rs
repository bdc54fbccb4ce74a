//! The command line: parses arguments and runs the subcommands.
//!
//! Each subcommand is a thin layer over a library module, so everything the
//! command line does is also reachable (and tested) as a library call.

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
    Demo {
        /// Where to build the demo store (replaced on every run).
        #[arg(long, default_value = "vigil-demo-store")]
        store: PathBuf,
        /// The sample data folder (default: the repository's sample-data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to serve the dashboards (a free port is chosen when this
        /// one is taken).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Stop after printing the league table instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Why a province's score moved: the change of its composite and area
    /// scores from one period to another, split exactly by indicator.
    Explain {
        /// The province code (e.g. 24).
        #[arg(long)]
        province: String,
        /// The later period: a month, quarter or year.
        #[arg(long)]
        period: String,
        /// The earlier period (default: the one before --period).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// vi or en.
        #[arg(long, default_value = "vi")]
        lang: String,
        /// Print the JSON of the split instead of sentences.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Internal: one analyst-query worker process of `vigil serve`.
    #[command(hide = true)]
    SqlWorker {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        memory_mb: usize,
        #[arg(long)]
        max_rows: usize,
        #[arg(long)]
        operator_memory_mb: usize,
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        object_url: Option<String>,
    },
    /// Run a node of a vigil cluster (Apache DataFusion Ballista): one
    /// scheduler, any number of executors; `--cluster HOST:PORT` on
    /// `score`, `indicators`, `sql` and `serve` sends their queries there.
    Cluster {
        #[command(subcommand)]
        node: ClusterNode,
    },
    /// Serve the dashboards, downloads and JSON API over HTTP.
    Serve {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        #[command(flatten)]
        web: WebArgs,
        /// Users with their roles and argon2-hashed passwords and tokens
        /// (see `vigil users add`). Without it the service runs open, for
        /// a demo on one's own machine only.
        #[arg(long, env = "VIGIL_USERS")]
        users: Option<PathBuf>,
        #[command(flatten)]
        service: ServiceArgs,
        /// Also serve the Postgres wire protocol here (needs --users), e.g.
        /// 127.0.0.1:5433, for psql and other Postgres clients.
        #[arg(long)]
        pg: Option<std::net::SocketAddr>,
        #[command(flatten)]
        cluster: ClusterArg,
    },
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
    Ingest {
        path: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        /// File holding the pseudonymization key (default: $VIGIL_HMAC_KEY).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Print every quarantined row, not only the counts.
        #[arg(long)]
        show_quarantine: bool,
        /// The alert rules evaluated once the extracts have landed
        /// (default: the shipped reference/alerts.toml).
        #[arg(long, env = "VIGIL_ALERTS")]
        alerts: Option<PathBuf>,
    },
    /// Evaluate the alert rules as of the latest extract (as every ingest
    /// does), print the open alerts, and with --deliver POST the outbox's
    /// undelivered events to the rules file's webhook.
    Alerts {
        #[arg(long, env = "VIGIL_ALERTS")]
        alerts: Option<PathBuf>,
        #[arg(long)]
        deliver: bool,
        /// vi or en.
        #[arg(long, default_value = "vi")]
        lang: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Build the facts scoring reads afresh from every stored extract (done
    /// by itself when the rules file, the calendar or the lineage change, or
    /// for a store written by an earlier version). Nothing else changes.
    Rebuild {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Show the extracts in the store, their rows and quarantine counts.
    Status {
        #[command(flatten)]
        store: StoreArg,
        /// Show the store as of this date (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Print the league table of a period: every province's indicators,
    /// area scores, composite, tier, rank and rank interval.
    Score(ScoreArgs),
    /// Print every indicator's numerator, denominator and value per
    /// province (the long form).
    Indicators(ScoreArgs),
    /// The risk-based responsibility-inspection plan of a quarter: the
    /// chosen provinces with risk, its four terms and reasons, those that
    /// just missed the cut, and those excluded by the 12-month rule.
    Plan {
        /// The quarter to plan, e.g. 2026-Q4 (risk comes from the quarter before).
        #[arg(long)]
        quarter: String,
        /// How many provinces the inspectorate can inspect (default: rules file).
        #[arg(long)]
        capacity: Option<usize>,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
        /// Language of the reasons in the table form.
        #[arg(long, default_value = "vi")]
        lang: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// The quarterly report for the leadership's meeting, as an A4 PDF:
    /// cover, summary, league table, national picture, a page per province
    /// in tier D or with an open alert, next quarter's plan, method and
    /// caveats (printed by headless Chromium from the /report page).
    Report {
        /// The quarter, e.g. 2026-Q3 (default: the last whole quarter).
        #[arg(long)]
        quarter: Option<String>,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[arg(long, default_value = "vi")]
        lang: String,
        /// The PDF to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArg,
    },
    /// The evidence pack of one province for a quarter's plan: open overdue
    /// cases, unit-months without head reception, stale accounts, records
    /// not entered or entered late, repeat requesters (pseudonymous).
    Evidence {
        #[arg(long)]
        quarter: String,
        /// Province code, e.g. 24.
        #[arg(long)]
        province: String,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
        /// With --format csv: which list (overdue_cases, head_reception_gaps,
        /// stale_accounts, entry_gaps, repeat_requesters).
        #[arg(long)]
        list: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Data-quality feedback on one extract, ready to send: per province,
    /// its quarantined rows with the reason in plain words and the rule
    /// broken, its records entered late in the national database, the
    /// tables the extract lacked and how it compares with the previous
    /// extracts; one workbook and one CSV per province, and a national
    /// file of the rows no province can be sent.
    Feedback {
        /// The extract's date (YYYY-MM-DD), as stored.
        #[arg(long)]
        extract: NaiveDate,
        /// Only this province (code, e.g. 24); default: all 34 and the
        /// national file.
        #[arg(long)]
        province: Option<String>,
        /// Language of the files: vi or en.
        #[arg(long, default_value = "vi")]
        lang: String,
        /// The folder the files are written to.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Run read-only SQL over the store through the same guard as the web
    /// service: `-c "SELECT ..."`, `-f file.sql`, or an interactive prompt
    /// (end a query with `;`, `\\d` lists the tables, `\\q` quits).
    Sql {
        /// One query to run.
        #[arg(short = 'c', long = "command", conflicts_with = "file")]
        command: Option<String>,
        /// A file of queries separated by `;`.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
        /// The role whose tables and masking apply.
        #[arg(long, default_value = "analyst")]
        role: String,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
        /// The audit log every query is written to (JSON lines, rotated at
        /// 10 MB), as for `serve`.
        #[arg(long, default_value = "vigil-audit.jsonl")]
        audit_log: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Write a realistic series of synthetic monthly extracts.
    Generate {
        /// Output folder (one sub-folder per extract).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 1 ≈ the real VSS volume (about 50,000 cases a year); 41 ≈ 10
        /// million cases over 2022-01..2026-10.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, value_enum, default_value_t = FormatArg::Mixed)]
        format: FormatArg,
        /// First month, YYYY-MM.
        #[arg(long, default_value = "2022-01")]
        from: String,
        /// Last month, YYYY-MM.
        #[arg(long, default_value = "2026-10")]
        to: String,
    },
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

impl Command {
    /// The store argument of a command that has one.
    fn store_arg_mut(&mut self) -> Option<&mut StoreArg> {
        match self {
            Command::Serve { store, .. }
            | Command::Explain { store, .. }
            | Command::Ingest { store, .. }
            | Command::Alerts { store, .. }
            | Command::Rebuild { store }
            | Command::Status { store, .. }
            | Command::Plan { store, .. }
            | Command::Report { store, .. }
            | Command::Evidence { store, .. }
            | Command::Feedback { store, .. }
            | Command::Sql { store, .. } => Some(store),
            Command::Score(a) | Command::Indicators(a) => Some(&mut a.store),
            _ => None,
        }
    }

    /// The cluster argument of a command that can run on a cluster.
    fn cluster_arg_mut(&mut self) -> Option<&mut ClusterArg> {
        match self {
            Command::Serve { cluster, .. } | Command::Sql { cluster, .. } => Some(cluster),
            Command::Score(a) | Command::Indicators(a) => Some(&mut a.cluster),
            _ => None,
        }
    }
}

impl StoreArg {
    /// The scoring engine over an existing store, with the shipped rules.
    fn engine(&self) -> Result<crate::score::scoring::Engine> {
        Ok(crate::score::scoring::Engine::bundled(
            Store::open_existing(&self.store_dir)?,
        ))
    }
}

/// `--lang`: vi or en.
fn parse_lang(lang: &str) -> Result<crate::present::i18n::Lang> {
    crate::present::i18n::Lang::parse(lang).context("--lang is vi or en")
}

#[derive(Subcommand, Debug)]
pub enum UsersAction {
    Add {
        name: String,
        /// leadership, inspectorate, analyst or admin.
        #[arg(long)]
        role: String,
        #[arg(long, env = "VIGIL_USERS")]
        file: PathBuf,
    },
}

type TlsConfig = std::sync::Arc<tokio_rustls::rustls::ServerConfig>;

/// The bounds of the service: analyst queries, logins, the audit log, TLS.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// The audit log of queries, exports and logins (JSON lines, rotated
    /// at 10 MB; see --audit-keep-days).
    #[arg(long, default_value = "vigil-audit.jsonl")]
    pub audit_log: PathBuf,
    /// Rotated audit files younger than this are never deleted.
    #[arg(long, default_value_t = 400)]
    pub audit_keep_days: u64,
    /// The audit log's size limit (MiB): reached with every entry younger
    /// than --audit-keep-days, queries are refused until it is archived.
    #[arg(long, default_value_t = 2048)]
    pub audit_max_mb: u64,
    /// The alert rules (default: the shipped reference/alerts.toml),
    /// checked at start; with a [webhook], alerts are delivered from here.
    #[arg(long, env = "VIGIL_ALERTS")]
    pub alerts: Option<PathBuf>,
    /// Seconds an analyst query may run; its worker is then stopped.
    #[arg(long, default_value_t = 30)]
    pub sql_timeout_secs: u64,
    /// Memory one analyst query may use (MiB of its worker process's
    /// address space); beyond it the query fails with a clear message.
    #[arg(long, default_value_t = 2048)]
    pub sql_memory_mb: usize,
    /// Analyst queries run at once (one worker process each).
    #[arg(long, default_value_t = 2)]
    pub sql_workers: usize,
    /// A PEM certificate (chain) for HTTPS and the Postgres port's TLS;
    /// with --tls-key. The session cookie is then marked Secure.
    #[arg(long, env = "VIGIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[arg(long, env = "VIGIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Failed logins allowed per user name and per client address before
    /// they are locked.
    #[arg(long, default_value_t = 5)]
    pub login_failures: u32,
    /// Failed logins allowed per client address before it is locked.
    #[arg(long, default_value_t = 20)]
    pub login_failures_per_address: u32,
    /// The first lock after too many failed logins (seconds); each further
    /// failure doubles it, up to 15 minutes.
    #[arg(long, default_value_t = 30)]
    pub login_lock_secs: u64,
}

impl Default for ServiceArgs {
    fn default() -> ServiceArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            service: ServiceArgs,
        }
        Defaults::parse_from(["vigil"]).service
    }
}

impl ServiceArgs {
    fn limits(&self) -> crate::serve::sqlguard::Limits {
        crate::serve::sqlguard::Limits {
            timeout: std::time::Duration::from_secs(self.sql_timeout_secs.max(1)),
            worker_address_space: self.sql_memory_mb.max(256) << 20,
            max_concurrent: self.sql_workers.max(1),
            ..crate::serve::sqlguard::Limits::default()
        }
    }

    fn retention(&self) -> crate::serve::audit::Retention {
        crate::serve::audit::Retention {
            keep_for: std::time::Duration::from_secs(self.audit_keep_days * 86_400),
            max_total_bytes: self.audit_max_mb << 20,
            ..crate::serve::audit::Retention::default()
        }
    }

    /// The TLS configurations (web, Postgres), when a certificate is given.
    fn tls(&self) -> Result<Option<(TlsConfig, TlsConfig)>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((
                crate::serve::tls::server_config(cert, key, crate::serve::tls::ALPN_HTTP)?,
                crate::serve::tls::server_config(cert, key, crate::serve::tls::ALPN_POSTGRES)?,
            ))),
            _ => Ok(None),
        }
    }

    fn throttle(&self) -> crate::serve::auth::ThrottleSettings {
        crate::serve::auth::ThrottleSettings {
            free_failures: self.login_failures,
            free_failures_per_address: self.login_failures_per_address,
            first_lock: std::time::Duration::from_secs(self.login_lock_secs.max(1)),
            ..crate::serve::auth::ThrottleSettings::default()
        }
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct WebArgs {
    /// Extra or replacement dashboard definitions (*.toml); default:
    /// ./dashboards when it exists, besides the built-in ones.
    #[arg(long)]
    pub dashboards: Option<PathBuf>,
    /// Extra or replacement named queries (*.sql); default: ./queries when
    /// it exists.
    #[arg(long)]
    pub queries: Option<PathBuf>,
}

impl WebArgs {
    fn dirs(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let pick = |given: &Option<PathBuf>, default: &str| {
            given
                .clone()
                .or_else(|| Some(PathBuf::from(default)).filter(|p| p.is_dir()))
        };
        (
            pick(&self.dashboards, "dashboards"),
            pick(&self.queries, "queries"),
        )
    }
}

#[derive(Subcommand, Debug)]
pub enum ClusterNode {
    /// The scheduler: takes queries from clients, plans them into stages
    /// and hands their tasks to executors. Prints the address it listens on.
    Scheduler {
        /// Where to listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat after which an executor is taken as
        /// dead and its tasks are run again on the others.
        #[arg(long, default_value_t = 30)]
        executor_timeout_secs: u64,
    },
    /// An executor: runs tasks and serves their results to the others.
    /// It reads the store's files itself: give it the same paths as the
    /// clients (a shared disk) or keep the store on S3 (AWS_* variables).
    Executor(crate::score::cluster::ExecutorOptions),
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

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Csv,
    Parquet,
    Mixed,
}

fn parse_month(s: &str) -> Result<(i32, u32)> {
    let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .with_context(|| format!("'{s}' is not a month YYYY-MM"))?;
    use chrono::Datelike;
    Ok((d.year(), d.month()))
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
    let writer = matches!(
        cli.command,
        Command::Ingest { .. } | Command::Rebuild { .. }
    );
    let may_be_empty = matches!(cli.command, Command::Ingest { .. } | Command::Serve { .. });
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

fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Demo {
            store,
            data,
            bind,
            no_serve,
        } => {
            demo(&store, data)?;
            if no_serve {
                return Ok(());
            }
            let engine = crate::score::scoring::Engine::bundled(Store::open_existing(&store)?);
            let service = ServiceArgs::default();
            serve(
                engine,
                bind,
                &WebArgs::default(),
                None,
                &service,
                None,
                true,
            )
        }
        Command::Serve {
            store,
            bind,
            web,
            users,
            service,
            pg,
            cluster,
        } => {
            let engine = crate::score::scoring::Engine::bundled(Store::open(&store.store_dir)?)
                .with_cluster(cluster.cluster(&store.store_dir)?);
            serve(engine, bind, &web, users.as_deref(), &service, pg, false)
        }
        Command::Explain {
            province,
            period,
            from,
            as_of,
            lang,
            json,
            store,
        } => {
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
        Command::SqlWorker {
            store,
            memory_mb,
            max_rows,
            operator_memory_mb,
            cluster,
            object_url,
        } => crate::serve::sqlguard::worker::worker_main(
            crate::serve::sqlguard::worker::WorkerSettings {
                store,
                address_space: memory_mb << 20,
                max_rows,
                operator_memory: operator_memory_mb << 20,
                cluster,
                object_url,
            },
        ),
        Command::Cluster { node } => cluster_node(node),
        Command::Users {
            action: UsersAction::Add { name, role, file },
        } => {
            let role = crate::serve::sqlguard::Role::parse(&role)
                .context("--role is leadership, inspectorate, analyst or admin")?;
            let (password, token) = crate::serve::auth::UsersFile::add_user(&file, &name, role)?;
            println!(
                "user {name} ({}) written to {}",
                role.name(),
                file.display()
            );
            println!("password:  {password}");
            println!("api token: {token}");
            println!("(shown once: only their hashes are stored)");
            Ok(())
        }
        Command::Ingest {
            path,
            store,
            key_file,
            show_quarantine,
            alerts,
        } => {
            let rules = load_alerts(alerts.as_deref())?;
            let key = Key::from_config(key_file.as_deref())?;
            let store = Store::open(&store.store_dir)?;
            ingest_all(&store, &path, &key, show_quarantine)?;
            alerts_after_ingest(&store, &rules);
            Ok(())
        }
        Command::Alerts {
            alerts,
            deliver,
            lang,
            store,
        } => {
            let rules = load_alerts(alerts.as_deref())?;
            let lang = parse_lang(&lang)?;
            let store = Store::open_existing(&store.store_dir)?;
            let engine = crate::score::scoring::Engine::bundled(store.clone());
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
        Command::Rebuild { store } => rebuild(&Store::open_existing(&store.store_dir)?),
        Command::Status { store, as_of } => {
            let store = Store::open_existing(&store.store_dir)?;
            print_status(&store, as_of)
        }
        Command::Plan {
            quarter,
            capacity,
            as_of,
            format,
            lang,
            out,
            store,
        } => {
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
        Command::Report {
            quarter,
            as_of,
            lang,
            out,
            store,
        } => {
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
        Command::Evidence {
            quarter,
            province,
            as_of,
            format,
            list,
            out,
            store,
        } => {
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
                PlanFormat::Table => {
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
                            text.push_str(
                                &r.iter().map(|c| c.plain()).collect::<Vec<_>>().join(" | "),
                            );
                            text.push('\n');
                        }
                        if t.rows.len() > 50 {
                            text.push_str(&format!(
                                "… {} more (use --format csv --list {id})\n",
                                t.rows.len() - 50
                            ));
                        }
                    }
                    text.into_bytes()
                }
            };
            emit(out.as_deref(), &bytes)
        }
        Command::Feedback {
            extract,
            province,
            lang,
            out,
            store,
        } => {
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
        Command::Sql {
            command,
            file,
            role,
            as_of,
            format,
            audit_log,
            store,
            cluster,
        } => {
            let role = crate::serve::sqlguard::Role::parse(&role)
                .context("--role is leadership, inspectorate, analyst or admin")?;
            let engine = store
                .engine()?
                .with_cluster(cluster.cluster(&store.store_dir)?);
            let guard = crate::serve::sqlguard::Guard::new(
                engine,
                crate::serve::sqlguard::Limits::default(),
            )?;
            let session = CliSql {
                rt: runtime()?,
                guard,
                role,
                as_of,
                format,
                audit: crate::serve::audit::AuditLog::new(
                    audit_log,
                    crate::serve::audit::Retention::default(),
                ),
                // The operating-system account: the CLI has no login of its own.
                user: format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                ),
            };
            let queries: Vec<String> = match (command, file) {
                (Some(c), _) => vec![c],
                (None, Some(f)) => split_statements(
                    &std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                (None, None) => return session.repl(),
            };
            let mut failed = false;
            for q in queries {
                if let Err(e) = session.run(&q) {
                    eprintln!("error: {e:#}");
                    failed = true;
                }
            }
            if failed {
                bail!("a query failed");
            }
            Ok(())
        }
        Command::Score(args) => score(&args, false),
        Command::Indicators(args) => score(&args, true),
        Command::Generate {
            out,
            seed,
            scale,
            format,
            from,
            to,
        } => {
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
}

/// Loads and checks the dashboards, then serves until Ctrl-C.
fn serve(
    engine: crate::score::scoring::Engine,
    bind: std::net::SocketAddr,
    web: &WebArgs,
    users: Option<&Path>,
    service: &ServiceArgs,
    pg: Option<std::net::SocketAddr>,
    fallback: bool,
) -> Result<()> {
    let (dash_dir, query_dir) = web.dirs();
    let catalog =
        crate::present::dashboards::Catalog::load(dash_dir.as_deref(), query_dir.as_deref())?;
    let auth = match users {
        Some(path) => {
            let file = crate::serve::auth::UsersFile::load(path)?;
            if file.users.is_empty() {
                bail!(
                    "{} has no users; add one with `vigil users add`",
                    path.display()
                );
            }
            let auth = crate::serve::auth::Auth::with_throttle(file, service.throttle());
            if auth.slow_token_hashes() > 0 {
                println!(
                    "{}: {} API token(s) still have argon2 hashes from an earlier version; \
                     reissue them with `vigil users add` so that bad tokens cost microseconds",
                    path.display(),
                    auth.slow_token_hashes()
                );
            }
            Some(std::sync::Arc::new(auth))
        }
        None => {
            println!(
                "no --users file: the service is open to anyone who can reach it (fine for a demo on 127.0.0.1 only)"
            );
            None
        }
    };
    if pg.is_some() && auth.is_none() {
        bail!("--pg needs --users: Postgres clients must log in with a real password");
    }
    // Analyst queries run in worker processes of this very binary.
    let workers = crate::serve::sqlguard::worker::WorkerCommand {
        program: std::env::current_exe().context("finding the vigil binary for query workers")?,
        store: engine.store.root().to_path_buf(),
        cluster: engine.cluster.clone(),
    };
    let guard = std::sync::Arc::new(crate::serve::sqlguard::Guard::with_workers(
        workers,
        service.limits(),
    ));
    let audit = std::sync::Arc::new(crate::serve::audit::AuditLog::new(
        &service.audit_log,
        service.retention(),
    ));
    let pg_service = match (&auth, pg) {
        (Some(a), Some(addr)) => Some((
            addr,
            std::sync::Arc::new(crate::serve::pgserver::PgService::new(
                a.clone(),
                guard.clone(),
                Some(audit.clone()),
            )),
        )),
        _ => None,
    };
    let alert_rules = load_alerts(service.alerts.as_deref())?;
    let tls = service.tls()?;
    let (web_tls, pg_tls) = match tls {
        Some((w, p)) => (Some(w), Some(p)),
        None => (None, None),
    };
    let security = crate::serve::web::Security {
        auth,
        guard: Some(guard),
        audit: Some(audit),
        secure_cookies: web_tls.is_some(),
    };
    let store_root = engine.store.root().to_path_buf();
    let state = crate::serve::web::AppState::secured(engine, catalog, security)?;
    runtime()?.block_on(async move {
        state.check_dashboards().await?;
        if let Some(hook) = alert_rules.webhook.clone() {
            println!("alerts are delivered to {}", hook.url);
            tokio::spawn(crate::score::alerts::delivery_loop(
                store_root.clone(),
                hook,
            ));
        }
        if let Some((addr, service)) = pg_service {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for Postgres clients"))?;
            println!(
                "Postgres clients: psql -h {} -p {} -U <user>",
                listener.local_addr()?.ip(),
                listener.local_addr()?.port()
            );
            tokio::spawn(crate::serve::pgserver::serve(listener, service, pg_tls));
        }
        let addr = if fallback && std::net::TcpListener::bind(bind).is_err() {
            println!("{bind} is taken; choosing a free port");
            std::net::SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            bind
        };
        crate::serve::web::serve(state, addr, web_tls).await
    })
}

fn score(args: &ScoreArgs, long_form: bool) -> Result<()> {
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

/// `vigil cluster scheduler|executor`: runs until the process is stopped.
fn cluster_node(node: ClusterNode) -> Result<()> {
    match node {
        ClusterNode::Scheduler {
            bind,
            executor_timeout_secs,
        } => runtime()?.block_on(crate::score::cluster::run_scheduler(
            bind,
            executor_timeout_secs,
        )),
        ClusterNode::Executor(options) => {
            runtime()?.block_on(crate::score::cluster::run_executor(options))
        }
    }
}

/// Splits a script at `;` outside quotes and comments.
fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == '-' && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            None if c == ';' => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            None => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `vigil sql`: the guard, the caller's role and as-of, and the audit log.
struct CliSql {
    rt: tokio::runtime::Runtime,
    guard: crate::serve::sqlguard::Guard,
    role: crate::serve::sqlguard::Role,
    as_of: Option<NaiveDate>,
    format: TableFormat,
    audit: crate::serve::audit::AuditLog,
    user: String,
}

impl CliSql {
    /// Runs one query through the guard, prints it, and audits it.
    fn run(&self, sql: &str) -> Result<()> {
        self.audit.room().map_err(anyhow::Error::msg)?;
        let started = std::time::Instant::now();
        let result = self.rt.block_on(self.guard.run(self.role, sql, self.as_of));
        self.audit.record(&crate::serve::audit::Entry::query(
            &self.user, self.role, sql, started, &result,
        ));
        let out = result?;
        let batch = datafusion::arrow::compute::concat_batches(&out.schema, &out.batches)?;
        if batch.num_columns() > 0 {
            let bytes = crate::present::export::encode(&batch, self.format)?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
        eprintln!(
            "({} rows{}, {:.3} s, as of {})",
            out.rows,
            if out.truncated {
                ", truncated at the row cap"
            } else {
                ""
            },
            out.elapsed.as_secs_f64(),
            out.as_of
        );
        Ok(())
    }

    /// The interactive prompt.
    fn repl(&self) -> Result<()> {
        use std::io::{BufRead, Write};
        eprintln!(
            "vigil sql as {}: end a query with ';', \\d lists tables, \\q quits",
            self.role.name()
        );
        let stdin = std::io::stdin();
        let mut buf = String::new();
        loop {
            eprint!(
                "{}",
                if buf.is_empty() {
                    "vigil> "
                } else {
                    "   ...> "
                }
            );
            std::io::stderr().flush().ok();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                return Ok(());
            }
            let trimmed = line.trim();
            if buf.is_empty() && trimmed == "\\q" {
                return Ok(());
            }
            if buf.is_empty() && trimmed == "\\d" {
                for (t, cols) in self
                    .rt
                    .block_on(self.guard.catalog(self.role, self.as_of))?
                {
                    let names: Vec<String> = cols.into_iter().map(|c| c.0).collect();
                    println!("{t}: {}", names.join(", "));
                }
                continue;
            }
            buf.push_str(&line);
            if trimmed.ends_with(';') {
                for q in split_statements(&buf) {
                    if let Err(e) = self.run(&q) {
                        eprintln!("error: {e:#}");
                    }
                }
                buf.clear();
            }
        }
    }
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

fn fmt_score(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "–".to_string())
}

/// The league table as a terminal reads it.
fn league_text(scores: &crate::score::scoring::Scores) -> String {
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

/// Rebuilds the facts of every stored extract and commits them.
fn rebuild(store: &Store) -> Result<()> {
    let started = Instant::now();
    let derivation = crate::facts::Derivation::bundled();
    let state =
        crate::facts::run_blocking(crate::facts::rebuild_and_commit(store, &derivation, |_| {
            true
        }))?;
    match state {
        // A rebuild writes one generation per stored extract.
        Some(state) => println!(
            "facts rebuilt from {} extracts (through {}) in {:.2} s",
            state.generation,
            state.through,
            started.elapsed().as_secs_f64()
        ),
        None => println!("the store holds no extract: nothing to build"),
    }
    Ok(())
}

/// Ingests one extract or a folder of extracts; stops at the first
/// rejected extract (later ones would be out of order without it).
/// The alert rules: a file, or the shipped ones.
fn load_alerts(path: Option<&Path>) -> Result<crate::score::alerts::Alerts> {
    match path {
        Some(p) => crate::score::alerts::Alerts::load(p),
        None => Ok(crate::score::alerts::Alerts::bundled()),
    }
}

/// Evaluates the alerts once extracts have landed; a failure is reported,
/// never turned into a failed ingest (the extracts are committed).
fn alerts_after_ingest(store: &Store, rules: &crate::score::alerts::Alerts) {
    let engine = crate::score::scoring::Engine::bundled(store.clone());
    let result = runtime().and_then(|rt| rt.block_on(crate::score::alerts::run(&engine, rules)));
    match result {
        Ok(events) => print_events(&events),
        Err(e) => eprintln!(
            "vigil: the alerts were not evaluated: {e:#} (the extracts are committed; `vigil alerts` retries)"
        ),
    }
}

fn print_events(events: &[crate::score::alerts::Event]) {
    for e in events {
        let who = e.alert.found.province_name.as_deref().unwrap_or("national");
        println!(
            "alert {}: {} — {}: {}",
            e.event, e.alert.found.rule, who, e.alert.found.detail_en
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

pub fn ingest_all(store: &Store, path: &Path, key: &Key, show_quarantine: bool) -> Result<()> {
    let reference = Reference::bundled();
    let dirs = ingest::extract_dirs(path)?;
    let started = Instant::now();
    let mut total_rows = 0u64;
    for (date, dir) in dirs {
        let t = Instant::now();
        let outcome = ingest::ingest_extract(store, &dir, key, &reference)
            .with_context(|| format!("{}", dir.display()))?;
        match outcome {
            Outcome::AlreadyIngested { extract_date } => {
                println!(
                    "{extract_date}: already ingested with identical content; nothing changed"
                );
            }
            Outcome::Ingested {
                entry,
                tables,
                quarantined,
                warnings,
            } => {
                let rows: u64 = tables.values().map(|t| t.rows).sum();
                total_rows += rows;
                println!(
                    "{date}: {} rows accepted, {} quarantined ({:.2} s)",
                    entry.accepted(),
                    entry.quarantined(),
                    t.elapsed().as_secs_f64()
                );
                for (name, t) in &tables {
                    if t.quarantined > 0 {
                        println!(
                            "    {name:<20} {:>9} accepted {:>7} quarantined",
                            t.accepted, t.quarantined
                        );
                    }
                }
                for (reason, n) in &entry.quarantine_reasons {
                    println!("    reason {reason:<22} {n:>7}");
                }
                for w in &warnings {
                    println!("    warning: {w}");
                }
                if show_quarantine {
                    for q in &quarantined {
                        println!(
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
    let secs = started.elapsed().as_secs_f64();
    if total_rows > 0 {
        println!(
            "ingested {total_rows} rows in {secs:.1} s ({:.0} rows/s)",
            total_rows as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints the committed extracts and the current row counts of each table.
pub fn print_status(store: &Store, as_of: Option<NaiveDate>) -> Result<()> {
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

async fn count(ctx: &SessionContext, sql: &str) -> Result<i64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let col = batches[0].column(0);
    let arr = col
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .context("count(*) is Int64")?;
    Ok(arr.value(0))
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
    let engine = crate::score::scoring::Engine::bundled(store.clone());
    let scores = runtime()?.block_on(engine.score(&quarter.label, None))?;
    println!();
    print!("{}", league_text(&scores));
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

#[cfg(test)]
mod tests {
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
