//! vigil: validates Vietnam Social Security extracts, stores them as
//! Parquet, and scores provinces on citizen reception, complaint and
//! denunciation handling, and national-database entry.
//!
//! Modules, each owning one responsibility:
//! - [`alerts`]: alert rules evaluated as extracts land, their outbox and webhook;
//! - [`auth`]: users, roles, sessions and API tokens;
//! - [`audit`]: the audit log of queries, exports and logins;
//! - [`dates`]: dates and day numbers as extracts and Arrow write them;
//! - [`contract`]: the extract tables and their rules;
//! - [`reference`]: provinces and the 2025 lineage;
//! - [`calendar`]: working days and working hours;
//! - [`rules`]: every limit and weight, from the rules file;
//! - [`pseudonym`]: requester identity replaced by an HMAC reference;
//! - [`ingest`]: reading, validating and quarantining an extract;
//! - [`store`]: the Parquet store, its atomic commits and its SQL views;
//! - [`feedback`]: data-quality feedback to the provinces on each extract;
//! - [`remote`]: a store on S3-compatible object storage, through a local
//!   cache, committed by a conditional put of the catalog;
//! - [`facts`]: current versions, progress, stages and entry records,
//!   maintained at ingest with validity intervals, partitioned by province;
//! - [`scoring`]: stages, indicators, scores, tiers, ranks;
//! - [`constants`]: `params` and `rules` as literals the optimizer sees;
//! - [`explain`]: why a score moved, split exactly by indicator;
//! - [`udf`]: the calendar as SQL functions;
//! - [`generate`]: realistic synthetic extracts;
//! - [`i18n`]: Vietnamese and English labels, numbers and dates;
//! - [`charts`]: line, bar and funnel charts as SVG and PNG;
//! - [`dashboards`]: dashboard definitions and their named queries;
//! - [`pgserver`]: the Postgres wire protocol over the guarded SQL path;
//! - [`plan`]: the risk-based inspection plan and evidence packs;
//! - [`report`]: the quarterly report printed to PDF;
//! - [`sqlguard`]: the one guarded path for user SQL, per role, in worker
//!   processes with capped memory in the server;
//! - [`table`]: query results as rows of typed cells;
//! - [`tls`]: HTTPS and the Postgres port's TLS, with rustls;
//! - [`web`]: the web application and its JSON API;
//! - [`cli`]: the command line.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod charts;
pub mod cli;
pub mod cluster;
pub mod constants;
pub mod contract;
pub mod dashboards;
pub mod dates;
pub mod explain;
pub mod export;
pub mod facts;
pub mod feedback;
pub mod generate;
pub mod i18n;
pub mod ingest;
pub mod pgserver;
pub mod plan;
pub mod pseudonym;
pub mod reference;
pub mod remote;
pub mod report;
pub mod rules;
pub mod scoring;
pub mod sqlguard;
pub mod store;
pub mod table;
pub mod tls;
pub mod udf;
pub mod web;
