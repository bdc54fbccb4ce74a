-- unit_facts: the current row of each unit the extract sends.
SELECT * FROM units WHERE unit_code IN (SELECT unit_code FROM new_units)
