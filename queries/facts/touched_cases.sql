-- touched_cases: the cases whose facts an incoming extract may change, so
-- that fact maintenance recomputes these and nothing else: the cases it
-- sends, the cases its events belong to now and belonged to before (an
-- event may move to another case), and the cases of units whose row
-- changed (their province may have changed). `prior_*` are the current
-- versions before the extract; `new_*` its accepted rows.
SELECT case_id FROM new_cases
UNION
SELECT case_id FROM new_case_events
UNION
SELECT p.case_id
FROM prior_case_events p
JOIN new_case_events n ON n.event_id = p.event_id
UNION
SELECT p.case_id
FROM prior_cases p
JOIN changed_units u ON u.unit_code = p.unit_code
