//! What people read, in pieces the scores and the servers both use: labels,
//! numbers and dates in Vietnamese and English ([`i18n`]), query results
//! as rows of typed cells ([`table`]), charts as SVG and PNG ([`charts`]),
//! dashboard definitions ([`dashboards`]) and file downloads ([`export`]).

pub mod charts;
pub mod dashboards;
pub mod export;
pub mod i18n;
pub mod table;
