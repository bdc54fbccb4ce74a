-- event_facts: per case event, its current row with the unit and province
-- of its case, the day it occurred and the working days until it was
-- entered in the national database (e1, e2; Decree 55/2022 Art. 8). Read
-- by the views `case_events` and `entry_records`.
SELECT e.*,
       c.unit_code,
       up.province_code,
       CAST(e.occurred_at AS DATE) AS occurred_date,
       wd_between(CAST(e.occurred_at AS DATE), CAST(e.db_entered_at AS DATE)) AS entry_working_days
FROM case_events e
LEFT JOIN cases c ON c.case_id = e.case_id
LEFT JOIN unit_province up ON up.unit_code = c.unit_code
