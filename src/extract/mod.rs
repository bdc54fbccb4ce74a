//! An extract on its way in: read, validated against the contract, bad rows
//! quarantined with their reason, requester identities replaced by
//! pseudonyms, and committed to the store with its facts ([`ingest`]);
//! and the generator of realistic synthetic extracts ([`generate`]).

pub mod generate;
pub mod ingest;
pub mod pseudonym;
pub mod run;
