-- feedback/rows_accepted: the rows each extract dated from $since to
-- $extract brought into the store, per current province (null: a central
-- unit's rows, or rows whose unit is not known). Sessions, cases and
-- officials count for their unit's province, events for their case's
-- unit's, units for their own, inspections for the province inspected.
SELECT extract_date, province_code, count(*) AS rows_accepted
FROM (
    SELECT h.extract_date, up.province_code
    FROM units_history h LEFT JOIN unit_province up ON up.unit_code = h.unit_code
    WHERE h.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT h.extract_date, up.province_code
    FROM reception_sessions_history h LEFT JOIN unit_province up ON up.unit_code = h.unit_code
    WHERE h.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT h.extract_date, up.province_code
    FROM cases_history h LEFT JOIN unit_province up ON up.unit_code = h.unit_code
    WHERE h.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT h.extract_date, up.province_code
    FROM officials_history h LEFT JOIN unit_province up ON up.unit_code = h.unit_code
    WHERE h.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT h.extract_date, up.province_code
    FROM case_events_history h
    LEFT JOIN cases c ON c.case_id = h.case_id
    LEFT JOIN unit_province up ON up.unit_code = c.unit_code
    WHERE h.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT h.extract_date, h.province_code
    FROM inspections_history h
    WHERE h.extract_date BETWEEN $since AND $extract
) sent
GROUP BY extract_date, province_code
