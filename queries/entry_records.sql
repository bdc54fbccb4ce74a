-- entry_records: the records that must be entered in the national
-- database (reception sessions; accepted, extended, transferred and settled
-- case events), with the day they occurred, when they were entered, the
-- current province of their unit and the working days from the one to the
-- other (Decree 55/2022 Art. 8). Read from the facts maintained at ingest.
SELECT s.unit_code, 'reception_session' AS record_kind, s.session_id AS record_id,
       s.session_date AS occurred_date, s.db_entered_at AS entered_at,
       s.province_code, s.entry_working_days
FROM session_facts s
UNION ALL
SELECT e.unit_code, 'case_event_' || e.event_type, e.event_id,
       e.occurred_date, e.db_entered_at, e.province_code, e.entry_working_days
FROM event_facts e
WHERE e.event_type IN ('accepted', 'extended', 'transferred', 'settled')
  AND e.unit_code IS NOT NULL
