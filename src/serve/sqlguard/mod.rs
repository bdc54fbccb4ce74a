//! The one guarded path for user SQL. Every place an analyst types SQL
//! (`vigil sql`, `POST /api/sql`, the Postgres port) goes through
//! [`Guard`]:
//!
//! - the text is capped in length before it is parsed;
//! - DataFusion's `SQLOptions` refuse DDL, DML and statements, so there is
//!   no CREATE (EXTERNAL) TABLE, COPY, INSERT, DROP or SET; no URL or file
//!   table exists (the context never enables them) and only a curated
//!   catalog is registered, chosen by the caller's role;
//! - the parser's recursion limit bounds deeply nested expressions;
//! - execution runs under a memory pool that makes operators spill or
//!   fail, with a concurrency limit, a timeout and a cap on the rows
//!   returned; in the server, in worker processes whose address space is
//!   capped and which are killed at the timeout ([`worker`]).
//!
//! What each role may read (METHODOLOGY section 3.1 and the roles of the
//! service): leadership reads the scores only; analysts the extract tables,
//! stages and scores, with the content and result summaries of
//! denunciations blanked; the inspectorate and admins everything. Nobody
//! reads raw requester identity: it is never stored.
//!
//! Inside: [`policy`] (roles, limits, errors, results) ← [`local`] (the
//! in-process executor) ← [`worker`] (worker processes) ← [`Guard`].

mod local;
mod policy;
pub mod worker;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;

use crate::score::scoring::Engine;
pub(crate) use local::Local;
pub use policy::{Described, GuardError, Limits, Outcome, Role, TableList, no_panic};

/// The guarded SQL service. Queries run either in this process
/// ([`Guard::new`]: `vigil sql`, one user's own process) or in worker
/// processes of the same binary ([`Guard::with_workers`]: the server),
/// whose address space is capped and which are killed at their timeout,
/// so that no query can take the server's memory or keep a core busy
/// after its answer (see `docs/security.md`).
pub struct Guard {
    pub limits: Limits,
    backend: Backend,
}

enum Backend {
    Local(Box<Local>),
    Workers(Box<worker::Pool>),
}

impl Guard {
    /// Queries run in this process.
    pub fn new(engine: Engine, limits: Limits) -> anyhow::Result<Guard> {
        Ok(Guard {
            backend: Backend::Local(Box::new(Local::new(engine, limits.clone())?)),
            limits,
        })
    }

    /// Queries run in worker processes started with `command`.
    pub fn with_workers(command: worker::WorkerCommand, limits: Limits) -> Guard {
        Guard {
            backend: Backend::Workers(Box::new(worker::Pool::new(command, limits.clone()))),
            limits,
        }
    }

    /// Forgets every context (after an ingest lands).
    pub async fn clear(&self) {
        match &self.backend {
            Backend::Local(l) => l.clear().await,
            Backend::Workers(p) => p.clear(),
        }
    }

    /// The tables and columns a role sees, for the console and `\d`.
    pub async fn catalog(
        &self,
        role: Role,
        as_of: Option<NaiveDate>,
    ) -> Result<TableList, GuardError> {
        match &self.backend {
            Backend::Local(l) => l.catalog(role, as_of).await,
            Backend::Workers(p) => p.catalog(role, as_of).await,
        }
    }

    /// Checks and runs one query for a role.
    pub async fn run(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Outcome, GuardError> {
        self.run_with(role, sql, as_of, Vec::new()).await
    }

    /// Checks a query and plans it without running it: the types of its
    /// `$n` parameters (where they can be inferred) and of its result.
    /// Postgres clients describe a statement before they bind it.
    pub async fn describe(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Described, GuardError> {
        if sql.len() > self.limits.max_sql_bytes {
            return Err(GuardError::TooLong(sql.len(), self.limits.max_sql_bytes));
        }
        match &self.backend {
            Backend::Local(l) => l.describe(role, sql, as_of).await,
            Backend::Workers(p) => p.describe(role, sql, as_of).await,
        }
    }

    /// Checks and runs one query for a role, with values bound to its
    /// `$1`, `$2`, … parameters (never pasted into the text).
    pub async fn run_with(
        &self,
        role: Role,
        sql: &str,
        as_of: Option<NaiveDate>,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome, GuardError> {
        if sql.len() > self.limits.max_sql_bytes {
            return Err(GuardError::TooLong(sql.len(), self.limits.max_sql_bytes));
        }
        match &self.backend {
            Backend::Local(l) => l.run_with(role, sql, as_of, params).await,
            Backend::Workers(p) => p.run_with(role, sql, as_of, params).await,
        }
    }
}
