-- Quarantined rows by extract, table and reason.
SELECT extract_date, table_name, reason_kind, COUNT(*) AS rows
FROM quarantine
GROUP BY extract_date, table_name, reason_kind
ORDER BY extract_date DESC, rows DESC, table_name, reason_kind
