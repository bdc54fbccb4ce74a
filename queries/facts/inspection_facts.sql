-- inspection_facts: the current row of each inspection the extract sends.
SELECT * FROM inspections WHERE inspection_id IN (SELECT inspection_id FROM new_inspections)
