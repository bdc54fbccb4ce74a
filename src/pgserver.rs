//! The Postgres wire protocol (`vigil serve --pg 127.0.0.1:5433`), so that
//! `psql` and other Postgres clients can query the store.
//!
//! Every connection authenticates with a user of the users file (the
//! password is checked against its argon2 hash; there is no trust or
//! empty-password mode), and every query goes through the same
//! [`Guard`](crate::sqlguard::Guard) as the web service, with the user's
//! role, and into the same audit log. Only the simple query protocol is
//! served (what `psql -c` and scripts use); results are sent as text.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::{Sink, SinkExt, stream};
use pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::audit::{AuditLog, Entry};
use crate::auth::Auth;
use crate::sqlguard::{Guard, GuardError, Role};
use crate::table::{Cell, Table};

const ROLE_KEY: &str = "vigil_role";

/// What every connection shares.
pub struct PgService {
    pub auth: Arc<Auth>,
    pub guard: Arc<Guard>,
    pub audit: Option<Arc<AuditLog>>,
    pids: RandomPidSecretKeyGenerator,
}

impl PgService {
    pub fn new(auth: Arc<Auth>, guard: Arc<Guard>, audit: Option<Arc<AuditLog>>) -> PgService {
        PgService {
            auth,
            guard,
            audit,
            pids: RandomPidSecretKeyGenerator::default(),
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
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let pwd = pwd.into_password()?;
                let user = LoginInfo::from_client_info(client)
                    .user()
                    .unwrap_or_default()
                    .to_string();
                match self.auth.login(&user, &pwd.password) {
                    Some(p) => {
                        client
                            .metadata_mut()
                            .insert(ROLE_KEY.to_string(), p.role.name().to_string());
                        let (pid, key) = self.pids.generate(client);
                        client.set_pid_and_secret_key(pid, key);
                        finish_authentication(client, &DefaultServerParameterProvider::default())
                            .await?;
                    }
                    None => return Err(PgWireError::InvalidPassword(user)),
                }
            }
            _ => {}
        }
        Ok(())
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
        GuardError::Failed(_) => "XX000",
        GuardError::Unavailable(_) => "57P03",
    };
    user_error(code, e.to_string())
}

#[async_trait]
impl SimpleQueryHandler for PgService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
    {
        let role = client
            .metadata()
            .get(ROLE_KEY)
            .and_then(|r| Role::parse(r))
            .ok_or_else(|| user_error("28000", "not authenticated".into()))?;
        let user = LoginInfo::from_client_info(client)
            .user()
            .unwrap_or_default()
            .to_string();
        let started = Instant::now();
        let result = self.guard.run(role, query, None).await;
        if let Some(log) = &self.audit {
            log.record(&Entry {
                user: &user,
                role: role.name(),
                action: "sql",
                what: query,
                rows: result.as_ref().ok().map(|o| o.rows),
                duration_ms: started.elapsed().as_millis(),
                outcome: match &result {
                    Ok(_) => "ok",
                    Err(e) => e.kind(),
                },
            });
        }
        let out = result.map_err(|e| guard_error(&e))?;
        let fields: Vec<FieldInfo> = out
            .schema
            .fields()
            .iter()
            .map(|f| {
                FieldInfo::new(
                    f.name().clone(),
                    None,
                    None,
                    pg_type(f.data_type()),
                    FieldFormat::Text,
                )
            })
            .collect();
        let schema = Arc::new(fields);
        let table = Table::from_batches(&out.schema, &out.batches)
            .map_err(|e| user_error("XX000", format!("{e:#}")))?;
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
            rows.push(Ok(encoder.take_row()));
        }
        Ok(vec![Response::Query(QueryResponse::new(
            schema,
            stream::iter(rows),
        ))])
    }
}

/// The handlers of one server: startup (password) and simple queries.
pub struct Handlers(pub Arc<PgService>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }
}

/// Accepts Postgres connections on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, service: Arc<PgService>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let handlers = Handlers(service.clone());
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::warn!("postgres connection: {e}");
            }
        });
    }
}
