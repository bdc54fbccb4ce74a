//! Analysts' queries in worker processes: the server's half (a pool that
//! starts, feeds, times and kills workers) and the worker's half (`vigil
//! sql-worker`, which runs queries through the in-process guard).
//!
//! Why processes: the DataFusion memory pool bounds what operators
//! reserve, not what a scalar function allocates (`repeat('x', 1e9)`), and
//! a cancelled plan only stops at its next poll, so a busy kernel keeps
//! running after its 408. A worker process holds by construction instead:
//!
//! - its address space is capped (`RLIMIT_AS`): whatever a query
//!   allocates beyond it fails, the worker ends, and the query gets a
//!   clear error; the server's memory never grows with a query;
//! - at the timeout the server kills the worker (`SIGKILL`): planning or
//!   execution, its CPU and memory are given back at once;
//! - it runs at a lower scheduling priority, so dashboards answer first;
//! - a crash of any kind (a panic that aborts, a stack overflow) ends one
//!   worker, never the server; the next query starts a fresh one.
//!
//! The protocol is private to the binary: one JSON request line on the
//! worker's standard input; on its protocol output a `started` line once
//! the context is ready (the timeout counts from there: building the
//! scores for a role and as-of is the service's work, not the query's),
//! then one JSON reply line and, when the reply says so, an Arrow IPC
//! stream of that many bytes.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::Semaphore;

use super::local::Local;
use super::policy::{Described, GuardError, Limits, Outcome, Role, TableList};

/// How to start a worker: the vigil binary and the store it reads.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub store: PathBuf,
    /// The cluster the engine runs its queries on, passed on to workers.
    pub cluster: Option<crate::score::cluster::Cluster>,
}

/// A bound parameter, as the worker receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Param {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(i32),
    Text(String),
}

impl Param {
    fn from_scalar(v: &ScalarValue) -> Result<Param, GuardError> {
        Ok(match v {
            v if v.is_null() => Param::Null,
            ScalarValue::Int64(Some(i)) => Param::Int(*i),
            ScalarValue::Float64(Some(x)) => Param::Float(*x),
            ScalarValue::Boolean(Some(b)) => Param::Bool(*b),
            ScalarValue::Date32(Some(d)) => Param::Date(*d),
            ScalarValue::Utf8(Some(s)) => Param::Text(s.clone()),
            other => {
                return Err(GuardError::Invalid(format!(
                    "a parameter of type {} is not supported",
                    other.data_type()
                )));
            }
        })
    }

    fn into_scalar(self) -> ScalarValue {
        match self {
            Param::Null => ScalarValue::Null,
            Param::Int(i) => ScalarValue::Int64(Some(i)),
            Param::Float(x) => ScalarValue::Float64(Some(x)),
            Param::Bool(b) => ScalarValue::Boolean(Some(b)),
            Param::Date(d) => ScalarValue::Date32(Some(d)),
            Param::Text(s) => ScalarValue::Utf8(Some(s)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Request {
    Run {
        role: Role,
        sql: String,
        as_of: Option<Day>,
        params: Vec<Param>,
    },
    Describe {
        role: Role,
        sql: String,
        as_of: Option<Day>,
    },
    Catalog {
        role: Role,
        as_of: Option<Day>,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    /// `(kind, detail)` of a [`GuardError`].
    error: Option<(String, String)>,
    rows: usize,
    truncated: bool,
    as_of: Option<Day>,
    elapsed_ms: u64,
    /// Describe: the parameter types (`None`: not inferred).
    params: Vec<Option<String>>,
    catalog: TableList,
    /// Bytes of Arrow IPC stream following the line.
    ipc_bytes: usize,
}

const STARTED: &str = "started";

/// A date on the wire: its day number.
type Day = i32;

fn to_day(d: Option<NaiveDate>) -> Option<Day> {
    d.map(crate::reference::dates::day_number)
}

fn from_day(d: Option<Day>) -> Option<NaiveDate> {
    d.and_then(crate::reference::dates::checked_date_from_day)
}

// ---------------------------------------------------------------------
// The server's half

struct Worker {
    child: Child,
    stdin: pipe::Sender,
    out: BufReader<pipe::Receiver>,
    /// The last lines the worker wrote to its standard error, and whether
    /// any said an allocation failed.
    stderr_tail: Arc<Mutex<(VecDeque<String>, bool)>>,
    generation: u64,
}

/// Workers for the server, at most `limits.max_concurrent` at a time.
pub struct Pool {
    command: WorkerCommand,
    limits: Limits,
    idle: Mutex<Vec<Worker>>,
    slots: Semaphore,
    /// Raised by [`Pool::clear`]: workers of an older generation are not
    /// reused (their contexts describe an earlier store).
    generation: AtomicU64,
}

impl Pool {
    pub fn new(command: WorkerCommand, limits: Limits) -> Pool {
        Pool {
            slots: Semaphore::new(limits.max_concurrent.max(1)),
            command,
            limits,
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.idle.lock().expect("lock").clear();
    }

    fn spawn(&self) -> Result<Worker, GuardError> {
        let mut cmd = std::process::Command::new(&self.command.program);
        cmd.arg("sql-worker")
            .arg("--store")
            .arg(&self.command.store)
            .arg("--memory-mb")
            .arg((self.limits.worker_address_space >> 20).to_string())
            .arg("--max-rows")
            .arg(self.limits.max_rows.to_string())
            .arg("--operator-memory-mb")
            .arg((self.limits.memory_bytes >> 20).to_string())
            .args(self.command.cluster.iter().flat_map(|c| c.args()))
            // Fewer malloc arenas: less address space reserved per thread.
            .env("MALLOC_ARENA_MAX", "2")
            // A worker's crash is reported in one line, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let unavailable = |e: std::io::Error| {
            GuardError::Unavailable(format!(
                "cannot start a query worker ({}): {e}",
                self.command.program.display()
            ))
        };
        let mut child = cmd.spawn().map_err(unavailable)?;
        let stdin = pipe::Sender::from_owned_fd(child.stdin.take().expect("piped").into())
            .map_err(unavailable)?;
        let out = pipe::Receiver::from_owned_fd(child.stdout.take().expect("piped").into())
            .map_err(unavailable)?;
        let stderr = child.stderr.take().expect("piped");
        let stderr_tail = Arc::new(Mutex::new((VecDeque::new(), false)));
        let tail = stderr_tail.clone();
        // A thread per worker: it ends when the worker does.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                tracing::warn!("sql worker: {line}");
                let mut t = tail.lock().expect("lock");
                t.1 |= line.contains("memory allocation of");
                if t.0.len() >= 8 {
                    t.0.pop_front();
                }
                t.0.push_back(line);
            }
        });
        let out = BufReader::new(out);
        Ok(Worker {
            child,
            stdin,
            out,
            stderr_tail,
            generation: self.generation.load(Ordering::SeqCst),
        })
    }

    fn take_idle(&self) -> Option<Worker> {
        let current = self.generation.load(Ordering::SeqCst);
        let mut idle = self.idle.lock().expect("lock");
        while let Some(w) = idle.pop() {
            if w.generation == current {
                return Some(w);
            }
        }
        None
    }

    fn give_back(&self, w: Worker) {
        if w.generation == self.generation.load(Ordering::SeqCst) {
            self.idle.lock().expect("lock").push(w);
        }
    }

    /// Sends one request and reads its reply; the worker is killed on a
    /// timeout and dropped on any failure.
    async fn call(&self, req: &Request) -> Result<(Reply, Vec<u8>), GuardError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| GuardError::Unavailable(e.to_string()))?;
        let mut w = match self.take_idle() {
            Some(w) => w,
            None => self.spawn()?,
        };
        match self.exchange(&mut w, req).await {
            Ok(r) => {
                self.give_back(w);
                Ok(r)
            }
            Err(Failure::Timeout) => {
                // Dropping the worker kills it: planning or execution, the
                // CPU and memory of the query are given back now, not at
                // its next poll.
                drop(w);
                Err(GuardError::Timeout(self.limits.timeout))
            }
            Err(Failure::Busy) => {
                drop(w);
                Err(GuardError::Unavailable(format!(
                    "the server took more than {} s to prepare the scores for this query; it is very busy: try again",
                    PREPARATION.as_secs()
                )))
            }
            Err(Failure::Ended(io)) => Err(self.ended(w, io).await),
        }
    }

    async fn exchange(&self, w: &mut Worker, req: &Request) -> Result<(Reply, Vec<u8>), Failure> {
        let mut line = serde_json::to_string(req).expect("a request serializes");
        line.push('\n');
        w.stdin.write_all(line.as_bytes()).await?;
        w.stdin.flush().await?;
        // Until `started`: the worker builds the context (no user input
        // decides how long that takes; a very busy machine can stretch it).
        let mut first = String::new();
        match tokio::time::timeout(PREPARATION, w.out.read_line(&mut first)).await {
            Err(_) => return Err(Failure::Busy),
            Ok(Ok(0)) => return Err(Failure::Ended(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(read) => {
                read?;
            }
        }
        if first.trim() != STARTED {
            let reply = parse_reply(&first)?;
            return Ok((reply, Vec::new()));
        }
        match tokio::time::timeout(self.limits.timeout, read_reply(&mut w.out)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// The error of a worker that stopped answering: what it last said on
    /// standard error tells a memory bound from another crash.
    async fn ended(&self, mut w: Worker, io: std::io::Error) -> GuardError {
        let _ = w.child.kill();
        let status = w.child.wait().ok();
        // Let the stderr reader catch the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (tail, out_of_memory) = {
            let t = w.stderr_tail.lock().expect("lock");
            (t.0.iter().cloned().collect::<Vec<_>>().join(" | "), t.1)
        };
        if out_of_memory {
            return GuardError::Failed(format!(
                "the query needed more memory than the {} MiB a query may use, and was stopped",
                self.limits.worker_address_space >> 20
            ));
        }
        GuardError::Failed(format!(
            "the query's worker process ended ({}; {io}){}",
            status.map_or("no status".to_string(), |s| s.to_string()),
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ))
    }

    pub async fn run_with(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome, GuardError> {
        let params = params
            .iter()
            .map(Param::from_scalar)
            .collect::<Result<_, _>>()?;
        let req = Request::Run {
            role,
            sql: sql.to_string(),
            as_of: to_day(as_of),
            params,
        };
        let (reply, ipc) = self.call(&req).await?;
        let reply = ok(reply)?;
        let (schema, batches) = read_ipc(&ipc)?;
        Ok(Outcome {
            schema,
            batches,
            rows: reply.rows,
            truncated: reply.truncated,
            elapsed: Duration::from_millis(reply.elapsed_ms),
            as_of: from_day(reply.as_of).unwrap_or_default(),
        })
    }

    pub async fn describe(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Described, GuardError> {
        let req = Request::Describe {
            role,
            sql: sql.to_string(),
            as_of: to_day(as_of),
        };
        let (reply, ipc) = self.call(&req).await?;
        let reply = ok(reply)?;
        let (schema, _) = read_ipc(&ipc)?;
        let params = reply
            .params
            .iter()
            .map(|t| t.as_deref().and_then(|t| t.parse::<DataType>().ok()))
            .collect();
        Ok(Described { params, schema })
    }

    pub async fn catalog(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<TableList, GuardError> {
        let as_of = to_day(as_of);
        let (reply, _) = self.call(&Request::Catalog { role, as_of }).await?;
        Ok(ok(reply)?.catalog)
    }
}

impl Drop for Worker {
    /// A worker dropped is killed (SIGKILL) and reaped.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a worker may take to prepare a role's context (score the
/// periods the SQL surface carries) before the query is answered "busy".
const PREPARATION: Duration = Duration::from_secs(180);

enum Failure {
    Timeout,
    /// The preparation took longer than [`PREPARATION`].
    Busy,
    Ended(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Ended(e)
    }
}

fn parse_reply(line: &str) -> Result<Reply, Failure> {
    serde_json::from_str(line).map_err(|e| {
        Failure::Ended(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unreadable reply: {e}"),
        ))
    })
}

async fn read_reply(out: &mut BufReader<pipe::Receiver>) -> Result<(Reply, Vec<u8>), Failure> {
    let mut line = String::new();
    if out.read_line(&mut line).await? == 0 {
        return Err(Failure::Ended(std::io::ErrorKind::UnexpectedEof.into()));
    }
    let reply = parse_reply(&line)?;
    let mut ipc = vec![0u8; reply.ipc_bytes];
    out.read_exact(&mut ipc).await?;
    Ok((reply, ipc))
}

fn ok(reply: Reply) -> Result<Reply, GuardError> {
    match reply.error {
        Some((kind, detail)) => Err(GuardError::from_parts(&kind, detail)),
        None => Ok(reply),
    }
}

fn read_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), GuardError> {
    let bad = |e: &dyn std::fmt::Display| GuardError::Failed(format!("reading a result: {e}"));
    if bytes.is_empty() {
        return Ok((Arc::new(Schema::empty()), Vec::new()));
    }
    let reader = StreamReader::try_new(bytes, None).map_err(|e| bad(&e))?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    Ok((schema, batches))
}

fn write_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = StreamWriter::try_new(&mut buf, schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    drop(w);
    Ok(buf)
}

// ---------------------------------------------------------------------
// The worker's half

/// What `vigil sql-worker` is started with.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub store: PathBuf,
    pub address_space: usize,
    pub max_rows: usize,
    pub operator_memory: usize,
    /// `--cluster` and `--object-url`, as the server was given them.
    pub cluster: Option<String>,
    pub object_url: Option<String>,
}

/// Caps this process's address space, lowers its priority and ties its
/// life to the server's (it dies with it).
fn confine(address_space: usize) -> Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this process's own limits and
    // priority; they touch no memory of ours.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: address_space as libc::rlim_t,
            rlim_max: address_space as libc::rlim_t,
        };
        if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
            anyhow::bail!(
                "cannot cap the address space: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    Ok(())
}

/// The protocol output: the process's standard output, which from here
/// on is only the protocol's (anything else printed goes to standard
/// error).
fn protocol_output() -> Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup and dup2 on the process's own standard descriptors; the
    // new descriptor is owned by the returned File alone.
    unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            anyhow::bail!("cannot set up the protocol output");
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}

/// `vigil sql-worker`: answers requests on standard input until it closes.
pub fn worker_main(settings: WorkerSettings) -> Result<()> {
    let mut out = std::io::BufWriter::new(protocol_output()?);
    let limits = Limits {
        max_rows: settings.max_rows,
        memory_bytes: settings.operator_memory,
        max_concurrent: 1,
        // The server times queries and kills the worker; this is a
        // backstop only.
        timeout: Duration::from_secs(24 * 3600),
        ..Limits::default()
    };
    let store = crate::store::Store::open_existing(&settings.store)
        .with_context(|| format!("opening the store {}", settings.store.display()))?;
    let cluster = crate::score::cluster::Cluster::from_args(
        settings.cluster.as_deref(),
        &settings.store,
        settings.object_url.as_deref(),
    )?;
    let engine = crate::score::scoring::Engine::bundled(store).with_cluster(cluster);
    let local = Local::with_threads(engine, limits, 32 << 20, 4)?;
    confine(settings.address_space)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let req: Request = serde_json::from_str(&line).context("a request from the server")?;
        let (reply, ipc) = rt.block_on(answer(&local, req, &mut out));
        serde_json::to_writer(
            &mut out,
            &Reply {
                ipc_bytes: ipc.len(),
                ..reply
            },
        )?;
        out.write_all(b"\n")?;
        out.write_all(&ipc)?;
        out.flush()?;
    }
    Ok(())
}

fn started(out: &mut impl Write) {
    let _ = writeln!(out, "{STARTED}").and_then(|_| out.flush());
}

fn failed(e: GuardError) -> (Reply, Vec<u8>) {
    let reply = Reply {
        error: Some((e.kind().to_string(), e.detail())),
        ..Reply::default()
    };
    (reply, Vec::new())
}

async fn answer(local: &Local, req: Request, out: &mut impl Write) -> (Reply, Vec<u8>) {
    let begun = Instant::now();
    match req {
        Request::Run {
            role,
            sql,
            as_of,
            params,
        } => {
            let as_of = from_day(as_of);
            if let Err(e) = local.prepare(role, &sql, as_of).await {
                return failed(e);
            }
            started(out);
            let params = params.into_iter().map(Param::into_scalar).collect();
            match local.run_with(role, &sql, as_of, params).await {
                Ok(o) => match write_ipc(&o.schema, &o.batches) {
                    Ok(ipc) => (
                        Reply {
                            rows: o.rows,
                            truncated: o.truncated,
                            as_of: to_day(Some(o.as_of)),
                            elapsed_ms: o.elapsed.as_millis() as u64,
                            ..Reply::default()
                        },
                        ipc,
                    ),
                    Err(e) => failed(GuardError::Failed(format!("{e:#}"))),
                },
                Err(e) => failed(e),
            }
        }
        Request::Describe { role, sql, as_of } => {
            let as_of = from_day(as_of);
            if let Err(e) = local.warm(role, as_of).await {
                return failed(e);
            }
            started(out);
            match local.describe(role, &sql, as_of).await {
                Ok(d) => match write_ipc(&d.schema, &[]) {
                    Ok(ipc) => (
                        Reply {
                            params: d
                                .params
                                .iter()
                                .map(|t| t.as_ref().map(|t| t.to_string()))
                                .collect(),
                            elapsed_ms: begun.elapsed().as_millis() as u64,
                            ..Reply::default()
                        },
                        ipc,
                    ),
                    Err(e) => failed(GuardError::Failed(format!("{e:#}"))),
                },
                Err(e) => failed(e),
            }
        }
        Request::Catalog { role, as_of } => match local.catalog(role, from_day(as_of)).await {
            Ok(catalog) => (
                Reply {
                    catalog,
                    ..Reply::default()
                },
                Vec::new(),
            ),
            Err(e) => failed(e),
        },
    }
}
