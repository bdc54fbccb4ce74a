//! The Postgres wire protocol (`vigil serve --pg 127.0.0.1:5433`), so that
//! `psql` and other Postgres clients can query the store.
//!
//! Every connection authenticates with a user of the users file (the
//! password is checked against its argon2 hash; there is no trust or
//! empty-password mode), and every query goes through the same
//! [`Guard`](crate::serve::sqlguard::Guard) as the web service, with the user's
//! role, and into the same audit log. Both the simple and the extended
//! query protocol are served (drivers such as JDBC, which DBeaver and
//! Metabase use, prepare, describe and bind), with `$n` parameters bound as
//! values; the Postgres system catalog (`pg_catalog`) is there for clients
//! that read it to list tables. Session commands clients send on their
//! own (BEGIN/COMMIT, SET application_name, SHOW …) are acknowledged here
//! without effect; every other statement is refused by the guard.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, SinkExt, stream};
use pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DataRowEncoder, DescribePortalResponse, DescribeResponse, DescribeStatementResponse,
    FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{NoopQueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::present::table::{Cell, Table};
use crate::serve::audit::{AuditLog, Entry};
use crate::serve::auth::{Auth, Refusal};
use crate::serve::sqlguard::{Guard, GuardError, Role};

const ROLE_KEY: &str = "vigil_role";
/// The connection's as-of date, set by `SET vigil.as_of = 'YYYY-MM-DD'`.
const AS_OF_KEY: &str = "vigil_as_of";

/// An authenticated connection.
struct Conn {
    role: Role,
    user: String,
    /// `None`: the latest extract.
    as_of: Option<NaiveDate>,
}

/// `SET vigil.as_of = 'YYYY-MM-DD'` (or `TO DEFAULT`): the store as of that
/// date for the rest of the connection, as `--as-of` does elsewhere. Only
/// the connection's own setting changes; the engine is not touched.
fn set_as_of<C: ClientInfo>(client: &mut C, sql: &str) -> Option<PgWireResult<Response>> {
    let setting = as_of_setting(sql)?;
    Some(setting.map(|date| {
        match date {
            Some(d) => client
                .metadata_mut()
                .insert(AS_OF_KEY.to_string(), d.to_string()),
            None => client.metadata_mut().remove(AS_OF_KEY),
        };
        Response::Execution(Tag::new("SET"))
    }))
}

/// Reads `SET vigil.as_of …`: the date, `None` for DEFAULT, or the error
/// for a value that is not a date; `None` for any other text.
fn as_of_setting(sql: &str) -> Option<PgWireResult<Option<NaiveDate>>> {
    let text = sql.trim().trim_end_matches(';').trim().to_ascii_lowercase();
    let rest = text
        .strip_prefix("set")?
        .trim_start()
        .strip_prefix("vigil.as_of")?
        .trim_start();
    let value = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix("to"))?
        .trim()
        .trim_matches('\'');
    if value == "default" || value.is_empty() {
        return Some(Ok(None));
    }
    Some(value.parse::<NaiveDate>().map(Some).map_err(|_| {
        user_error(
            "22007",
            format!("vigil.as_of takes a date YYYY-MM-DD or DEFAULT, not '{value}'"),
        )
    }))
}

/// What every connection shares.
pub struct PgService {
    pub auth: Arc<Auth>,
    pub guard: Arc<Guard>,
    pub audit: Option<Arc<AuditLog>>,
    pids: RandomPidSecretKeyGenerator,
    compat: PostgresCompatibilityParser,
}

impl PgService {
    pub fn new(auth: Arc<Auth>, guard: Arc<Guard>, audit: Option<Arc<AuditLog>>) -> PgService {
        PgService {
            auth,
            guard,
            audit,
            pids: RandomPidSecretKeyGenerator::default(),
            compat: PostgresCompatibilityParser::new(),
        }
    }
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

#[async_trait]
impl StartupHandler for PgService {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Each message is allowed in one state only: a startup first, then
        // the password. Anything else before authentication (a query, a
        // password with no startup, a second startup) ends the connection.
        let state = client.state();
        match message {
            PgWireFrontendMessage::Startup(ref startup)
                if matches!(state, PgWireConnectionState::AwaitingStartup) =>
            {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd)
                if matches!(state, PgWireConnectionState::AuthenticationInProgress) =>
            {
                let pwd = pwd.into_password()?;
                let user = LoginInfo::from_client_info(client)
                    .user()
                    .unwrap_or_default()
                    .to_string();
                let addr = Some(client.socket_addr().ip());
                let started = Instant::now();
                let auth = self.auth.clone();
                let (name, password) = (user.clone(), pwd.password);
                // argon2 is deliberately slow: off the async threads.
                let result =
                    tokio::task::spawn_blocking(move || auth.login(&name, &password, addr))
                        .await
                        .map_err(|e| fatal("XX000", format!("login: {e}")))?;
                if let Some(log) = &self.audit {
                    let door = crate::serve::audit::door("postgres", addr);
                    log.record(&Entry::login(&user, &door, started, &result));
                }
                match result {
                    Ok(p) => {
                        client
                            .metadata_mut()
                            .insert(ROLE_KEY.to_string(), p.role.name().to_string());
                        let (pid, key) = self.pids.generate(client);
                        client.set_pid_and_secret_key(pid, key);
                        finish_authentication(client, &DefaultServerParameterProvider::default())
                            .await?;
                    }
                    Err(Refusal::Wrong) => return Err(PgWireError::InvalidPassword(user)),
                    Err(Refusal::Throttled(wait)) => {
                        return Err(fatal(
                            "28P01",
                            format!(
                                "too many failed logins for this user or address; try again in {} s",
                                wait.as_secs().max(1)
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(fatal(
                    "08P01",
                    format!(
                        "protocol violation: {} before authentication",
                        message_name(&other)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An error that ends the connection.
fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

fn message_name(m: &PgWireFrontendMessage) -> &'static str {
    match m {
        PgWireFrontendMessage::Startup(_) => "a second startup message",
        PgWireFrontendMessage::PasswordMessageFamily(_) => "a password before the startup",
        PgWireFrontendMessage::Query(_) => "a query",
        PgWireFrontendMessage::Parse(_) => "a Parse message",
        _ => "a message",
    }
}

fn pg_type(t: &DataType) -> Type {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            Type::INT4
        }
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float32 | DataType::Float64 => Type::FLOAT8,
        DataType::Boolean => Type::BOOL,
        _ => Type::VARCHAR,
    }
}

fn guard_error(e: &GuardError) -> PgWireError {
    let code = match e {
        GuardError::NotAllowed(_) => "42501",
        GuardError::TooLong(..) => "54000",
        GuardError::Timeout(_) => "57014",
        GuardError::Invalid(_) => "42000",
        GuardError::Failed(m) if m.contains("date out of range") => "22008",
        GuardError::Failed(_) => "XX000",
        GuardError::Unavailable(_) => "57P03",
    };
    user_error(code, e.to_string())
}

impl PgService {
    /// The query as DataFusion can plan it: Postgres clients' catalog
    /// queries use casts (`'pg_class'::regclass`), operators
    /// (`OPERATOR(pg_catalog.~)`) and qualified names DataFusion does not
    /// know; they are rewritten here into plain SQL. The result is still
    /// only text for the guard, which checks and plans it like any other;
    /// text that does not parse here goes to the guard unchanged for its
    /// own error.
    fn compatible(&self, sql: &str) -> String {
        if sql.len() > self.guard.limits.max_sql_bytes {
            return sql.to_string();
        }
        match self.compat.parse(sql) {
            Ok(statements) if statements.len() == 1 => statements[0].to_string(),
            _ => sql.to_string(),
        }
    }

    /// Refuses a text of more than one statement before anything of it
    /// is answered: a session command first (`SET application_name …;
    /// SELECT …`) would otherwise be acknowledged and the rest dropped.
    fn one_statement(&self, conn: &Conn, sql: &str) -> PgWireResult<()> {
        if sql.len() > self.guard.limits.max_sql_bytes {
            return Ok(()); // the guard refuses it with its own message
        }
        let count = match self.compat.parse(sql) {
            Ok(statements) => statements.len(),
            Err(_) => return Ok(()), // the guard's parser says what is wrong
        };
        if count <= 1 {
            return Ok(());
        }
        let e = GuardError::NotAllowed(format!("{count} statements given"));
        self.audit_plain(conn, sql, Instant::now(), e.kind());
        Err(guard_error(&e))
    }

    /// A statement planned for the client's role; `None` for a session
    /// command, which returns no rows.
    async fn describe<C: ClientInfo>(
        &self,
        client: &C,
        sql: &str,
    ) -> PgWireResult<Option<crate::serve::sqlguard::Described>> {
        let conn = Self::who(client)?;
        if session_command(sql, None).is_some() || as_of_setting(sql).is_some() {
            return Ok(None);
        }
        self.guard
            .describe(conn.role, &self.compatible(sql), conn.as_of)
            .await
            .map(Some)
            .map_err(|e| guard_error(&e))
    }

    /// Who is connected, and the as-of date their queries read.
    fn who<C: ClientInfo>(client: &C) -> PgWireResult<Conn> {
        let role = client
            .metadata()
            .get(ROLE_KEY)
            .and_then(|r| Role::parse(r))
            .ok_or_else(|| user_error("28000", "not authenticated".into()))?;
        let user = LoginInfo::from_client_info(client)
            .user()
            .unwrap_or_default()
            .to_string();
        let as_of = client
            .metadata()
            .get(AS_OF_KEY)
            .and_then(|d| d.parse().ok());
        Ok(Conn { role, user, as_of })
    }

    /// Audits a statement answered without the guard (a session command,
    /// a refused multi-statement text).
    fn audit_plain(&self, conn: &Conn, sql: &str, started: Instant, outcome: &str) {
        self.audit(&Entry {
            user: &conn.user,
            role: conn.role.name(),
            action: "sql",
            what: sql,
            rows: None,
            duration_ms: started.elapsed().as_millis(),
            outcome,
        });
    }

    fn audit(&self, entry: &Entry) {
        if let Some(log) = &self.audit {
            log.record(entry);
        }
    }

    /// Answers one query: a client's session command, or user SQL through
    /// the guard, with its parameters bound and its result columns in the
    /// formats the client asked for.
    async fn answer(
        &self,
        conn: &Conn,
        sql: &str,
        params: Vec<ScalarValue>,
        formats: &Format,
    ) -> PgWireResult<Response> {
        if let Some(Err(full)) = self.audit.as_ref().map(|a| a.room()) {
            return Err(user_error("53400", full));
        }
        let started = Instant::now();
        if let Some(resp) = session_command(sql, conn.as_of) {
            let resp = resp?;
            self.audit_plain(conn, sql, started, "session");
            return Ok(resp);
        }
        let result = self
            .guard
            .run_with(conn.role, &self.compatible(sql), conn.as_of, params)
            .await
            .and_then(|out| {
                let rows = crate::serve::sqlguard::no_panic("encoding the result", || {
                    let schema = fields(&out.schema, formats);
                    let table = Table::from_batches(&out.schema, &out.batches)
                        .map_err(|e| GuardError::Failed(format!("{e:#}")))?;
                    let rows = encode_rows(&table, schema.clone())
                        .map_err(|e| GuardError::Failed(e.to_string()))?;
                    Ok::<_, GuardError>((schema, rows))
                })??;
                Ok((out, rows))
            });
        self.audit(&Entry::query(&conn.user, conn.role, sql, started, &result));
        let (_, (schema, rows)) = result.map_err(|e| guard_error(&e))?;
        Ok(Response::Query(QueryResponse::new(
            schema,
            stream::iter(rows.into_iter().map(Ok)),
        )))
    }
}

/// The row description of a result, each column in the format asked for.
fn fields(schema: &SchemaRef, formats: &Format) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                FieldInfo::new(
                    f.name().clone(),
                    None,
                    None,
                    pg_type(f.data_type()),
                    formats.format_for(i),
                )
            })
            .collect(),
    )
}

fn encode_rows(table: &Table, schema: Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let mut encoder = DataRowEncoder::new(schema.clone());
    let mut rows = Vec::with_capacity(table.rows.len());
    for r in &table.rows {
        for (cell, f) in r.iter().zip(schema.iter()) {
            match (cell, f.datatype()) {
                (Cell::Null, _) => encoder.encode_field(&None::<String>)?,
                (Cell::Int(i), t) if *t == Type::INT4 => encoder.encode_field(&(*i as i32))?,
                (Cell::Int(i), t) if *t == Type::INT8 => encoder.encode_field(i)?,
                (Cell::Float(x), t) if *t == Type::FLOAT8 => encoder.encode_field(x)?,
                (Cell::Bool(b), t) if *t == Type::BOOL => encoder.encode_field(b)?,
                (other, _) => encoder.encode_field(&other.plain())?,
            }
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// What clients send about their own session rather than the data:
/// transactions (everything is read-only, so they change nothing), the
/// usual client settings, and SHOW of them. Answered here without
/// touching the store; anything else, `SET datafusion.…` included, goes
/// to the guard, which refuses statements.
fn session_command(sql: &str, as_of: Option<NaiveDate>) -> Option<PgWireResult<Response>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let first = *words.first()?;
    match first {
        "begin" | "start" if first == "begin" || words.get(1) == Some(&"transaction") => {
            Some(Ok(Response::TransactionStart(Tag::new("BEGIN"))))
        }
        "commit" | "end" => Some(Ok(Response::TransactionEnd(Tag::new("COMMIT")))),
        "rollback" | "abort" => Some(Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))),
        "set" => {
            // SET [SESSION|LOCAL] name { = | TO } value
            let mut rest = &words[1..];
            if matches!(rest.first(), Some(&"session") | Some(&"local")) {
                rest = &rest[1..];
            }
            let name = rest.first()?.split('=').next().unwrap_or_default();
            CLIENT_SETTINGS
                .contains(&name)
                .then(|| Ok(Response::Execution(Tag::new("SET"))))
        }
        "show" => {
            let name = words.get(1)?.to_string();
            let as_of = as_of.map_or("latest".to_string(), |d| d.to_string());
            let value = if name == "vigil.as_of" {
                Some(as_of.as_str())
            } else {
                SHOWN.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            };
            Some(match value {
                Some(v) => {
                    let schema = Arc::new(vec![FieldInfo::new(
                        name,
                        None,
                        None,
                        Type::VARCHAR,
                        FieldFormat::Text,
                    )]);
                    let mut enc = DataRowEncoder::new(schema.clone());
                    enc.encode_field(&v).map(|_| {
                        Response::Query(QueryResponse::new(
                            schema,
                            stream::iter(vec![Ok(enc.take_row())]),
                        ))
                    })
                }
                None => Err(user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                )),
            })
        }
        _ => None,
    }
}

/// Client settings a SET may name (acknowledged, no effect on the guard).
const CLIENT_SETTINGS: [&str; 11] = [
    "application_name",
    "extra_float_digits",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "timezone",
    "time",
    "search_path",
    "client_min_messages",
    "bytea_output",
    "characteristics", // SET SESSION CHARACTERISTICS AS TRANSACTION ...
];

const SHOWN: [(&str, &str); 8] = [
    ("transaction_isolation", "read committed"),
    ("transaction", "read committed"), // SHOW TRANSACTION ISOLATION LEVEL
    ("search_path", "public"),
    ("standard_conforming_strings", "on"),
    ("client_encoding", "UTF8"),
    ("server_encoding", "UTF8"),
    ("timezone", "UTC"),
    ("datestyle", "ISO, MDY"),
];

/// The value of one bound parameter, by its declared or inferred type.
/// Text-format values of numeric types are parsed so they compare as
/// numbers; other text values stay text and DataFusion coerces them
/// (a date column compared with '2026-10-01' works as in Postgres).
fn parameter(bytes: Option<&[u8]>, binary: bool, ty: &Type) -> PgWireResult<ScalarValue> {
    let Some(b) = bytes else {
        return Ok(ScalarValue::Null);
    };
    let bad = |what: &str| user_error("22P02", format!("invalid {what} parameter"));
    if binary {
        let fixed = |n: usize| -> PgWireResult<&[u8]> {
            (b.len() == n).then_some(b).ok_or_else(|| bad(ty.name()))
        };
        return Ok(match *ty {
            Type::INT2 => ScalarValue::Int64(Some(
                i16::from_be_bytes(fixed(2)?.try_into().unwrap()) as i64,
            )),
            Type::INT4 => ScalarValue::Int64(Some(
                i32::from_be_bytes(fixed(4)?.try_into().unwrap()) as i64,
            )),
            Type::INT8 => {
                ScalarValue::Int64(Some(i64::from_be_bytes(fixed(8)?.try_into().unwrap())))
            }
            Type::FLOAT4 => ScalarValue::Float64(Some(f32::from_be_bytes(
                fixed(4)?.try_into().unwrap(),
            ) as f64)),
            Type::FLOAT8 => {
                ScalarValue::Float64(Some(f64::from_be_bytes(fixed(8)?.try_into().unwrap())))
            }
            Type::BOOL => ScalarValue::Boolean(Some(fixed(1)?[0] != 0)),
            // Days since 2000-01-01, Postgres's epoch; Arrow counts from 1970.
            Type::DATE => {
                let days = i32::from_be_bytes(fixed(4)?.try_into().unwrap());
                let day = days
                    .checked_add(10_957)
                    .filter(|d| crate::reference::dates::checked_date_from_day(*d).is_some())
                    .ok_or_else(|| {
                        user_error("22008", "date parameter out of range (years 1–9999)".into())
                    })?;
                ScalarValue::Date32(Some(day))
            }
            _ => ScalarValue::Utf8(Some(
                String::from_utf8(b.to_vec()).map_err(|_| bad("text"))?,
            )),
        });
    }
    let text = std::str::from_utf8(b).map_err(|_| bad("text"))?;
    Ok(match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 => {
            ScalarValue::Int64(Some(text.trim().parse().map_err(|_| bad("integer"))?))
        }
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => {
            ScalarValue::Float64(Some(text.trim().parse().map_err(|_| bad("number"))?))
        }
        Type::BOOL => ScalarValue::Boolean(Some(matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "t" | "true" | "1" | "yes" | "on"
        ))),
        _ => ScalarValue::Utf8(Some(text.to_string())),
    })
}

/// The Postgres type a client is told for an inferred parameter type.
fn param_type(t: Option<&DataType>) -> Type {
    match t {
        Some(DataType::Date32) => Type::DATE,
        Some(t) => pg_type(t),
        None => Type::UNKNOWN,
    }
}

#[async_trait]
impl SimpleQueryHandler for PgService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
    {
        if query.trim().trim_end_matches(';').trim().is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let conn = Self::who(client)?;
        self.one_statement(&conn, query)?;
        if let Some(resp) = set_as_of(client, query) {
            return Ok(vec![resp?]);
        }
        Ok(vec![
            self.answer(&conn, query, Vec::new(), &Format::UnifiedText)
                .await?,
        ])
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgService {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(NoopQueryParser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
    {
        let sql = &portal.statement.statement;
        let conn = Self::who(client)?;
        self.one_statement(&conn, sql)?;
        if let Some(resp) = set_as_of(client, sql) {
            return resp;
        }
        // Parameter types: the client's where it declared them, else what
        // the plan infers.
        let declared = &portal.statement.parameter_types;
        let inferred = if !portal.parameters.is_empty()
            && declared.iter().filter(|t| t.is_some()).count() < portal.parameters.len()
            && session_command(sql, None).is_none()
        {
            self.guard
                .describe(conn.role, &self.compatible(sql), conn.as_of)
                .await
                .map(|d| d.params)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut params = Vec::with_capacity(portal.parameters.len());
        for (i, value) in portal.parameters.iter().enumerate() {
            let ty = declared
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| param_type(inferred.get(i).and_then(|t| t.as_ref())));
            params.push(parameter(
                value.as_deref(),
                portal.parameter_format.is_binary(i),
                &ty,
            )?);
        }
        self.answer(&conn, sql, params, &portal.result_column_format)
            .await
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        stmt: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
    {
        let Some(d) = self.describe(client, &stmt.statement).await? else {
            return Ok(DescribeStatementResponse::no_data());
        };
        let params = d
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| param_type(t.as_ref()))
            })
            .collect();
        let fields = fields(&d.schema, &Format::UnifiedText);
        Ok(DescribeStatementResponse::new(params, (*fields).clone()))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
    {
        let Some(d) = self.describe(client, &portal.statement.statement).await? else {
            return Ok(DescribePortalResponse::no_data());
        };
        let fields = fields(&d.schema, &portal.result_column_format);
        Ok(DescribePortalResponse::new((*fields).clone()))
    }
}

/// The handlers of one server: startup (password), simple and extended
/// queries.
pub struct Handlers(pub Arc<PgService>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }
}

/// Accepts Postgres connections on `listener` until the process ends;
/// with `tls`, an `SSLRequest` is answered `S` and the connection goes on
/// encrypted (without, `N`: clients with `sslmode=require` then stop).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<PgService>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) {
    let acceptor = tls.map(pgwire::tokio::TlsAcceptor::from);
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let handlers = Handlers(service.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                tracing::warn!("postgres connection: {e}");
            }
        });
    }
}
