-- feedback/late_entries: the records sent in the extracts dated from
-- $since to $extract that were entered in the national database late, or
-- are still not entered when already late (Decree 55/2022 Art. 8; the
-- records of METHODOLOGY e1/e2: reception sessions, and accepted,
-- extended, transferred and settled case events). Late = more than the
-- rules file's entry_max_working_days working days from the day the
-- record occurred to the day it was entered, or to the extract date when
-- it is not entered. Each with its unit's current province (null: a
-- central unit, or a unit not known).
WITH records AS (
    SELECT s.extract_date, s.unit_code, 'reception_session' AS record_kind,
           s.session_id AS record_id, s.session_date AS occurred_date,
           CAST(s.db_entered_at AS DATE) AS entered_date
    FROM reception_sessions_history s
    WHERE s.extract_date BETWEEN $since AND $extract
    UNION ALL
    SELECT e.extract_date, c.unit_code, 'case_event_' || e.event_type,
           e.event_id, CAST(e.occurred_at AS DATE), CAST(e.db_entered_at AS DATE)
    FROM case_events_history e
    LEFT JOIN cases c ON c.case_id = e.case_id
    WHERE e.extract_date BETWEEN $since AND $extract
      AND e.event_type IN ('accepted', 'extended', 'transferred', 'settled')
),
measured AS (
    SELECT r.*,
           wd_between(r.occurred_date, COALESCE(r.entered_date, r.extract_date)) AS working_days
    FROM records r
)
SELECT m.extract_date,
       up.province_code,
       m.record_kind,
       m.record_id,
       m.unit_code,
       m.occurred_date,
       m.entered_date,
       m.working_days,
       CASE WHEN m.entered_date IS NULL THEN 'not_entered' ELSE 'late' END AS status
FROM measured m
LEFT JOIN unit_province up ON up.unit_code = m.unit_code
CROSS JOIN rules rl
WHERE m.working_days > rl.entry_max_working_days
ORDER BY m.extract_date, up.province_code, m.occurred_date, m.record_id
