-- touched_sessions: the reception sessions whose facts an incoming extract
-- may change: those it sends and those of units whose row changed.
SELECT session_id FROM new_reception_sessions
UNION
SELECT p.session_id
FROM prior_reception_sessions p
JOIN changed_units u ON u.unit_code = p.unit_code
