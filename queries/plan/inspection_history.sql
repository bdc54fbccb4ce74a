-- Every inspection of one province, newest first.
SELECT inspection_id, kind, started_on, ended_on, findings_count
FROM inspections
WHERE province_code = $province
ORDER BY started_on DESC, inspection_id
