//! vigil: validates Vietnam Social Security extracts, stores them as
//! Parquet, and scores provinces on citizen reception, complaint and
//! denunciation handling, and national-database entry.
//!
//! The folders follow the data, and imports only point down this list:
//!
//! - [`reference`]: what vigil ships and everything else reads: provinces
//!   and the 2025 lineage, the extract contract, the calendar and its SQL
//!   functions, the rules file, dates and day numbers;
//! - [`store`]: the Parquet store, its catalog and atomic commits, on a
//!   local disk or S3-compatible object storage;
//! - [`facts`]: current versions, progress, stages and entry records,
//!   maintained at ingest with validity intervals, partitioned by province;
//! - [`extract`]: reading, validating and quarantining an extract and
//!   committing it with its facts; pseudonyms; synthetic extracts;
//! - [`present`]: what people read, below the scores that use it: labels in
//!   two languages, tables of cells, charts, dashboards, downloads;
//! - [`score`]: indicators, scores, ranks, the inspection plan, alerts,
//!   change attribution, data-quality feedback, and the cluster the
//!   queries may run on;
//! - [`serve`]: the one guarded SQL path, users and audit, the web
//!   application, the Postgres port, TLS, the quarterly report;
//! - [`cli`]: the command line.

// In the order of the list above (not alphabetical): each reads only
// those before it.
pub mod reference;

pub mod store;

pub mod facts;

pub mod extract;

pub mod present;

pub mod score;

pub mod serve;

pub mod cli;
