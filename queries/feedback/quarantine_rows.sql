-- feedback/quarantine_rows: the quarantined rows of the extracts dated
-- from $since to $extract, each with the current province it is reported
-- to (null: it cannot be attributed to a province).
--
-- A row goes to the province of its unit (units, reception_sessions,
-- cases, officials: the unit_code it was sent with, as stored), else of
-- its case's unit (case_events: the case as stored, or the case
-- quarantined in the same extract), else of the province code it was
-- sent with (units not stored yet, inspections), a pre-merger code
-- through the lineage. Only positions, reasons and codes: the quarantine
-- keeps no other cell of a row.
WITH q AS (
    SELECT * FROM quarantine WHERE extract_date BETWEEN $since AND $extract
),
quarantined_case_unit AS (
    SELECT extract_date, primary_key AS case_id, min(unit_code) AS unit_code
    FROM q
    WHERE table_name = 'cases' AND primary_key IS NOT NULL AND unit_code IS NOT NULL
    GROUP BY extract_date, primary_key
),
code_province AS (
    SELECT old_code AS code, new_code AS province_code FROM province_lineage
    UNION
    SELECT province_code AS code, province_code FROM provinces
    WHERE province_code NOT IN (SELECT old_code FROM province_lineage)
)
SELECT q.extract_date,
       q.table_name,
       q.file,
       q.line,
       q.column_name,
       q.reason_kind,
       q.primary_key,
       COALESCE(own_unit.province_code, case_unit.province_code,
                quarantined_case.province_code, sent_code.province_code) AS province_code
FROM q
LEFT JOIN unit_province own_unit ON own_unit.unit_code = q.unit_code
LEFT JOIN cases c ON c.case_id = q.case_id AND q.table_name = 'case_events'
LEFT JOIN unit_province case_unit ON case_unit.unit_code = c.unit_code
LEFT JOIN quarantined_case_unit qc
       ON qc.case_id = q.case_id AND qc.extract_date = q.extract_date
      AND q.table_name = 'case_events'
LEFT JOIN unit_province quarantined_case ON quarantined_case.unit_code = qc.unit_code
LEFT JOIN code_province sent_code ON sent_code.code = q.province_code
ORDER BY q.extract_date, q.file, q.line
