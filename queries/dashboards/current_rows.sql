-- Rows in force as of the as-of date, per extract table.
SELECT 'units' AS table_name, COUNT(*) AS current_rows FROM units
UNION ALL SELECT 'reception_sessions', COUNT(*) FROM reception_sessions
UNION ALL SELECT 'cases', COUNT(*) FROM cases
UNION ALL SELECT 'case_events', COUNT(*) FROM case_events
UNION ALL SELECT 'officials', COUNT(*) FROM officials
UNION ALL SELECT 'inspections', COUNT(*) FROM inspections
