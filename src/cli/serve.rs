//! Commands that serve people and programs: the web service, guarded
//! SQL at the prompt, users, the cluster's nodes and the query worker.

use super::*;

#[derive(clap::Args, Debug)]
pub struct SqlWorkerArgs {
    #[arg(long)]
    pub store: PathBuf,
    #[arg(long)]
    pub memory_mb: usize,
    #[arg(long)]
    pub max_rows: usize,
    #[arg(long)]
    pub operator_memory_mb: usize,
    #[arg(long)]
    pub cluster: Option<String>,
    #[arg(long)]
    pub object_url: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    #[command(flatten)]
    pub web: WebArgs,
    /// Users with their roles and argon2-hashed passwords and tokens
    /// (see `vigil users add`). Without it the service runs open, for
    /// a demo on one's own machine only.
    #[arg(long, env = "VIGIL_USERS")]
    pub users: Option<PathBuf>,
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Also serve the Postgres wire protocol here (needs --users), e.g.
    /// 127.0.0.1:5433, for psql and other Postgres clients.
    #[arg(long)]
    pub pg: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// One query to run.
    #[arg(short = 'c', long = "command", conflicts_with = "file")]
    pub command: Option<String>,
    /// A file of queries separated by `;`.
    #[arg(short = 'f', long)]
    pub file: Option<PathBuf>,
    /// The role whose tables and masking apply.
    #[arg(long, default_value = "analyst")]
    pub role: String,
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// The audit log every query is written to (JSON lines, rotated at
    /// 10 MB), as for `serve`.
    #[arg(long, default_value = "vigil-audit.jsonl")]
    pub audit_log: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

impl ServeArgs {
    pub fn run(self) -> Result<()> {
        let ServeArgs {
            store,
            bind,
            web,
            users,
            service,
            pg,
            cluster,
        } = self;
        let engine = crate::score::scoring::Engine::bundled(Store::open(&store.store_dir)?)
            .with_cluster(cluster.cluster(&store.store_dir)?)
            .keeping_counts();
        serve(engine, bind, &web, users.as_deref(), &service, pg, false)
    }
}

impl SqlWorkerArgs {
    pub fn run(self) -> Result<()> {
        let SqlWorkerArgs {
            store,
            memory_mb,
            max_rows,
            operator_memory_mb,
            cluster,
            object_url,
        } = self;
        crate::serve::sqlguard::worker::worker_main(
            crate::serve::sqlguard::worker::WorkerSettings {
                store,
                address_space: memory_mb << 20,
                max_rows,
                operator_memory: operator_memory_mb << 20,
                cluster,
                object_url,
            },
        )
    }
}

impl SqlArgs {
    pub fn run(self) -> Result<()> {
        let SqlArgs {
            command,
            file,
            role,
            as_of,
            format,
            audit_log,
            store,
            cluster,
        } = self;
        let role = crate::serve::sqlguard::Role::parse(&role)
            .context("--role is leadership, inspectorate, analyst or admin")?;
        let engine = store
            .engine()?
            .with_cluster(cluster.cluster(&store.store_dir)?);
        let guard =
            crate::serve::sqlguard::Guard::new(engine, crate::serve::sqlguard::Limits::default())?;
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
                &std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?,
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
}

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

type TlsConfig = std::sync::Arc<tokio_rustls::rustls::ServerConfig>;

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

/// Loads and checks the dashboards, then serves until Ctrl-C.
pub(super) fn serve(
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

/// `vigil cluster scheduler|executor`: runs until the process is stopped.
pub(super) fn cluster_node(node: ClusterNode) -> Result<()> {
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
pub(super) fn split_statements(text: &str) -> Vec<String> {
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

/// `vigil users add`: a user with a random password and API token,
/// printed once.
pub(super) fn users(action: UsersAction) -> Result<()> {
    let UsersAction::Add { name, role, file } = action;
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
