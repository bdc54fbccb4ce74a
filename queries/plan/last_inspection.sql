-- The start of each province's last responsibility inspection that began
-- before the planning quarter ($quarter_start).
SELECT province_code, max(started_on) AS last_started_on
FROM inspections
WHERE kind = 'responsibility' AND started_on < $quarter_start
GROUP BY province_code
