-- changed_units: units the extract sends whose province mapping may have
-- changed (new, or another level, province code or start of validity):
-- their cases and sessions are recomputed (queries/unit_province.sql).
SELECT n.unit_code
FROM new_units n
LEFT JOIN prior_units p ON p.unit_code = n.unit_code
WHERE p.unit_code IS NULL
   OR (n.level IS DISTINCT FROM p.level)
   OR (n.province_code IS DISTINCT FROM p.province_code)
   OR (n.valid_from IS DISTINCT FROM p.valid_from)
