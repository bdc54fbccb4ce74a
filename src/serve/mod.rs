//! Everything that answers people and programs: the one guarded path for
//! user SQL ([`sqlguard`]), users, roles and tokens ([`auth`]), the audit
//! log ([`audit`]), the web application and its JSON API ([`web`]), the
//! Postgres wire protocol ([`pgserver`]), TLS ([`tls`]) and the quarterly
//! report printed to PDF ([`report`]).

pub mod audit;
pub mod auth;
pub mod pgserver;
pub mod report;
pub mod sqlguard;
pub mod tls;
pub mod web;
