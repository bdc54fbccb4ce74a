-- The extracts in the store up to the as-of date, newest first.
SELECT extract_date, source, ingested_at, rows_accepted, rows_quarantined
FROM extracts
ORDER BY extract_date DESC
