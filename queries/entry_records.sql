-- entry_records: the records that must be entered in the national
-- database (reception sessions; accepted, extended, transferred and settled
-- case events), with the day they occurred and when they were entered.
SELECT s.unit_code, 'reception_session' AS record_kind, s.session_id AS record_id,
       s.session_date AS occurred_date, s.db_entered_at AS entered_at
FROM reception_sessions s
UNION ALL
SELECT c.unit_code, 'case_event_' || e.event_type, e.event_id,
       CAST(e.occurred_at AS DATE), e.db_entered_at
FROM case_events e
JOIN cases c ON c.case_id = e.case_id
WHERE e.event_type IN ('accepted', 'extended', 'transferred', 'settled')
