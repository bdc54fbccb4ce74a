-- official_facts: the current row of each assignment the extract sends.
SELECT * FROM officials WHERE assignment_id IN (SELECT assignment_id FROM new_officials)
