-- The start of each province's last responsibility inspection known at the
-- as-of date. One that started inside the planning quarter (before the
-- as-of) counts too: the province has just been inspected.
SELECT province_code, max(started_on) AS last_started_on
FROM inspections
WHERE kind = 'responsibility'
GROUP BY province_code
