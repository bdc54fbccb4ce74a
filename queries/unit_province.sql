-- unit_province: every unit with the current province its records count
-- for (METHODOLOGY section 2). A unit created before 2025-07-01 carries a
-- pre-merger code and goes through the lineage; a later unit carries one of
-- the 34 codes. Central units belong to no province.
SELECT
    u.unit_code,
    u.unit_name,
    u.level,
    CASE
        WHEN u.level = 'central' THEN NULL
        WHEN u.valid_from < DATE '2025-07-01' THEN l.new_code
        ELSE u.province_code
    END AS province_code,
    u.province_code AS unit_province_code,
    u.valid_from,
    u.valid_to
FROM units u
LEFT JOIN province_lineage l ON l.old_code = u.province_code
