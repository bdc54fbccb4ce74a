//! Scoring and analyst SQL on an Apache DataFusion Ballista cluster made of
//! the vigil binary (`vigil cluster scheduler|executor`, `--cluster`).
//!
//! What this module owns, and why each piece is needed:
//!
//! - **Functions.** Ballista ships plans as protobuf and names a scalar
//!   function only by name, so the calendar functions (`wd_add`,
//!   `cal_deadline`, …) are registered on every side: in the client's
//!   context, in the scheduler's session (it re-plans the client's logical
//!   plan) and in each executor's function registry.
//! - **Small in-memory tables.** DataFusion's plan serialization carries
//!   Parquet listings and views but not `MemTable`s, which vigil uses for
//!   reference tables (provinces, lineage, months, extracts) and for the
//!   scores an analyst context holds. [`Codec`] writes such a table into
//!   the plan as Arrow IPC; every other provider goes through Ballista's
//!   own codec unchanged.
//! - **Where files are read.** Executors read the store's Parquet files
//!   themselves: from the same path on a shared or local disk, or from
//!   S3-compatible storage for a store given as `s3://…` ([`Stores`] makes
//!   an S3 client per bucket from the `AWS_*` variables, lazily).
//!
//! Everything else stays where it was: the facts are kept by ingest on
//! one machine, and ranks, bootstrap, charts and the SQL guard's checks run
//! in the client process; only the plans' execution moves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, RwLock};

use anyhow::{Context, Result};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use object_store::ObjectStore;
use url::Url;

/// The scheduler's port when `--cluster` names only a host.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The calendar functions every side of a cluster knows by name, made
/// once per process (a scheduler asks for them with every session).
fn functions() -> Vec<ScalarUDF> {
    static FUNCTIONS: LazyLock<Vec<ScalarUDF>> = LazyLock::new(|| {
        let calendar = crate::reference::rules::Rules::bundled().shipped_calendar();
        crate::reference::udf::calendar_udfs(Arc::new(calendar))
    });
    FUNCTIONS.clone()
}

/// One registry of object stores per process, so that every session of a
/// scheduler or executor reuses the S3 clients made before.
fn stores() -> Arc<Stores> {
    static STORES: LazyLock<Arc<Stores>> = LazyLock::new(Arc::default);
    STORES.clone()
}

// ---------------------------------------------------------------- stores

/// Object stores for the URLs a plan names: local files as DataFusion
/// does, and `s3://bucket` through an S3 client made on first use from the
/// `AWS_*` variables (the same settings `--store s3://…` uses).
#[derive(Debug, Default)]
pub struct Stores {
    local: DefaultObjectStoreRegistry,
    s3: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Stores {
    fn s3(&self, bucket: &str) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Some(s) = self.s3.read().expect("lock").get(bucket) {
            return Ok(s.clone());
        }
        let store = crate::store::remote::s3_client(bucket)
            .map_err(|e| DataFusionError::Configuration(format!("{e:#}")))?;
        self.s3
            .write()
            .expect("lock")
            .insert(bucket.to_string(), store.clone());
        Ok(store)
    }
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.local.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.local.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match (url.scheme(), url.host_str()) {
            ("s3", Some(bucket)) => self.s3(bucket),
            _ => self.local.get_store(url),
        }
    }
}

/// A runtime that reads local files and S3 buckets.
fn runtime(base: RuntimeEnvBuilder) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    base.with_object_store_registry(stores()).build_arc()
}

// ----------------------------------------------------------------- codec

/// The first byte of an encoded table provider: which codec wrote it.
const TAG_MEMORY: u8 = b'M';
const TAG_BALLISTA: u8 = b'B';

/// Ballista's logical codec, plus in-memory tables carried as Arrow IPC.
#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

fn encode_memory(table: &MemTable, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    buf.push(TAG_MEMORY);
    let mut w = StreamWriter::try_new(&mut *buf, &table.schema())?;
    for partition in &table.batches {
        let batches = partition.try_read().map_err(|_| {
            DataFusionError::Execution("an in-memory table is being written".into())
        })?;
        for b in batches.iter() {
            w.write(b)?;
        }
    }
    w.finish()?;
    Ok(())
}

fn decode_memory(bytes: &[u8], schema: SchemaRef) -> datafusion::error::Result<MemTable> {
    let reader = StreamReader::try_new(bytes, None)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    MemTable::try_new(schema, vec![batches])
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&TAG_MEMORY, rest)) => Ok(Arc::new(decode_memory(rest, schema)?)),
            Some((&TAG_BALLISTA, rest)) => self
                .inner
                .try_decode_table_provider(rest, table_ref, schema, ctx),
            _ => Err(DataFusionError::Internal(format!(
                "table {table_ref}: not written by vigil's plan codec"
            ))),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        if let Some(table) = node.downcast_ref::<MemTable>() {
            return encode_memory(table, buf);
        }
        buf.push(TAG_BALLISTA);
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

// ---------------------------------------------------------------- client

/// `host:port` (or `host`) of a scheduler as the URL Ballista takes.
pub fn scheduler_url(addr: &str) -> Result<String> {
    let addr = addr.trim().trim_start_matches("df://");
    let url = if addr.contains(':') {
        format!("df://{addr}")
    } else {
        format!("df://{addr}:{DEFAULT_SCHEDULER_PORT}")
    };
    Url::parse(&url).with_context(|| format!("'{addr}' is not HOST:PORT of a scheduler"))?;
    Ok(url)
}

/// Where the cluster is and, for a store pulled from object storage, the
/// URL its executors read the files from.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub scheduler: String,
    pub mirror: Option<crate::store::ObjectMirror>,
    /// How long a scoring query may take on the cluster before it is
    /// given up with an error (see [`Cluster::bounded`]).
    pub deadline: std::time::Duration,
}

/// The default of `--cluster-timeout-secs`: far above any scoring query
/// measured (a year of ten million cases takes seconds), so that only a
/// job that will never finish reaches it.
pub const DEFAULT_DEADLINE_SECS: u64 = 1800;

impl Cluster {
    /// The cluster a command was given (`--cluster`), if any, for the
    /// store at `store_dir`; `object_url` is the `s3://…` URL that store
    /// was pulled from, whose objects the executors then read.
    pub fn from_args(
        scheduler: Option<&str>,
        store_dir: &std::path::Path,
        object_url: Option<&str>,
    ) -> Result<Option<Cluster>> {
        let Some(scheduler) = scheduler else {
            return Ok(None);
        };
        let mirror = match object_url {
            Some(url) => Some(crate::store::ObjectMirror::new(store_dir, url)?),
            None => None,
        };
        Ok(Some(Cluster {
            scheduler: scheduler_url(scheduler)?,
            mirror,
            deadline: std::time::Duration::from_secs(DEFAULT_DEADLINE_SECS),
        }))
    }

    /// The same cluster, its queries given up after `secs` seconds.
    pub fn with_deadline(self, secs: u64) -> Cluster {
        Cluster {
            deadline: std::time::Duration::from_secs(secs),
            ..self
        }
    }

    /// Runs a query of the cluster to its end or to the deadline.
    ///
    /// Why a deadline: Ballista 55's adaptive planner re-runs the stages an
    /// executor lost, but when a lost executor's shuffle output is found
    /// missing by a later stage it can leave the job waiting for ever (the
    /// re-run stage's results are refused as not active). The client would
    /// then wait for ever too; with the deadline it fails with an error
    /// that says so, and prints nothing of the query.
    pub async fn bounded<T>(
        &self,
        query: impl std::future::Future<Output = datafusion::error::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.deadline, query).await {
            Ok(result) => Ok(result?),
            Err(_) => anyhow::bail!(
                "the cluster at {} did not finish the query within {} s \
                 (an executor lost mid-query can leave a job unfinished; \
                 the query's partial work was not used); run it again, or \
                 raise --cluster-timeout-secs if it is only slow",
                self.scheduler,
                self.deadline.as_secs()
            ),
        }
    }

    /// The arguments that give a worker process this cluster.
    pub fn args(&self) -> Vec<String> {
        let mut out = vec!["--cluster".to_string(), self.scheduler.clone()];
        if let Some(m) = &self.mirror {
            out.extend(["--object-url".to_string(), m.url.clone()]);
        }
        out
    }

    /// A context whose queries run on the cluster; `config` and `base`
    /// are the settings a local context would have had (the memory pool
    /// bounds what the client itself holds, such as collected results).
    pub async fn session(
        &self,
        config: SessionConfig,
        base: RuntimeEnvBuilder,
    ) -> Result<SessionContext> {
        let mut config = config.with_ballista_logical_extension_codec(Arc::new(Codec::default()));
        if let Some(m) = &self.mirror {
            config = config.with_extension(Arc::new(m.clone()));
        }
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime(base)?)
            .build();
        let ctx = SessionContext::remote_with_state(&self.scheduler, state)
            .await
            .with_context(|| format!("connecting to the cluster at {}", self.scheduler))?;
        Ok(ctx)
    }
}

// ------------------------------------------------------------- processes

/// The scheduler's session: Ballista's defaults, vigil's functions, and
/// object stores for local files and S3 (it lists the files of a scan).
fn scheduler_session(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime(RuntimeEnvBuilder::new())?)
        .build();
    for f in functions() {
        datafusion::execution::FunctionRegistry::register_udf(&mut state, Arc::new(f))?;
    }
    Ok(state)
}

/// Runs a scheduler on `bind` (port 0: any free port) until the process
/// ends; prints the address it listens on. An executor silent for
/// `executor_timeout` seconds is taken as dead and its tasks run again
/// elsewhere.
pub async fn run_scheduler(bind: SocketAddr, executor_timeout: u64) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the scheduler to {bind}"))?;
    let addr = listener.local_addr()?;
    let mut config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        external_host: addr.ip().to_string(),
        bind_port: addr.port(),
        executor_timeout_seconds: executor_timeout,
        expire_dead_executor_interval_seconds: executor_timeout.clamp(1, 15),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(scheduler_session));
    config.override_logical_codec = Some(Arc::new(Codec::default()));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow::anyhow!("starting the scheduler: {e}"))?;
    let scheduler = ballista_scheduler::scheduler_process::create_scheduler::<
        datafusion_proto::protobuf::LogicalPlanNode,
        datafusion_proto::protobuf::PhysicalPlanNode,
    >(cluster, Arc::new(config))
    .await
    .map_err(|e| anyhow::anyhow!("starting the scheduler: {e}"))?;
    println!("vigil cluster scheduler listening on {addr}");
    ballista_scheduler::scheduler_process::start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| anyhow::anyhow!("the scheduler stopped: {e}"))
}

/// What an executor is started with (`vigil cluster executor`).
#[derive(clap::Args, Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, HOST:PORT.
    #[arg(long)]
    pub scheduler: String,
    /// Where results are served to the other nodes (Arrow Flight).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// The port tasks arrive on.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub concurrent_tasks: usize,
    /// Memory the tasks may use together, MiB (default: a share of the
    /// machine's).
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Folder for intermediate (shuffle) files (default: a temporary one).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Runs an executor until the process ends.
pub async fn run_executor(o: ExecutorOptions) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let url = Url::parse(&scheduler_url(&o.scheduler)?)?;
    let mut registry = BallistaFunctionRegistry::default();
    for f in functions() {
        registry
            .scalar_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    let work_dir = o.work_dir.map(|p| p.to_string_lossy().into_owned());
    let temp = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: o.bind.ip().to_string(),
        external_host: Some(o.bind.ip().to_string()),
        port: o.bind.port(),
        grpc_port: o.grpc_port,
        scheduler_host: url.host_str().unwrap_or("localhost").to_string(),
        scheduler_port: url.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        scheduler_connect_timeout_seconds: 30,
        vcores: o.concurrent_tasks,
        work_dir,
        memory_pool_size: o.memory_mb.map(|m| m << 20),
        executor_heartbeat_interval_seconds: 5,
        override_function_registry: Some(Arc::new(registry)),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_runtime_producer: Some(Arc::new(move |_| {
            let mut b = RuntimeEnvBuilder::new();
            if let Some(t) = &temp {
                b = b.with_temp_file_path(t.clone());
            }
            runtime(b)
        })),
        ..ExecutorProcessConfig::default()
    };
    println!(
        "vigil cluster executor on {} (tasks on port {}), scheduler {}",
        o.bind, o.grpc_port, o.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow::anyhow!("the executor stopped: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            scheduler_url("10.0.0.5:7000").unwrap(),
            "df://10.0.0.5:7000"
        );
        assert_eq!(scheduler_url("sched").unwrap(), "df://sched:50050");
        assert!(scheduler_url("a b:1").is_err());
    }

    /// An in-memory table goes through the codec and comes back equal.
    #[tokio::test]
    async fn memory_tables_survive_the_codec() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["01", "24", "79"])),
                Arc::new(Int64Array::from(vec![Some(3), None, Some(-7)])),
            ],
        )
        .unwrap();
        let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
        let codec = Codec::default();
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&"t".into(), Arc::new(table), &mut buf)
            .unwrap();
        let ctx = SessionContext::new();
        let back = codec
            .try_decode_table_provider(&buf, &"t".into(), schema, &ctx.task_ctx())
            .unwrap();
        ctx.register_table("t", back).unwrap();
        let got = ctx
            .sql("SELECT * FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(got, vec![batch]);
        let err = codec
            .try_decode_table_provider(
                b"X",
                &"t".into(),
                Arc::new(Schema::empty()),
                &ctx.task_ctx(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("not written by vigil"), "{err}");
    }
}
