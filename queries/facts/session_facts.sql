-- session_facts: per reception session, its current row with the province
-- of its unit and the working days until it was entered in the national
-- database. Read by the views `reception_sessions` and `entry_records`,
-- and by r1 and r2.
SELECT s.*,
       up.province_code,
       wd_between(s.session_date, CAST(s.db_entered_at AS DATE)) AS entry_working_days
FROM reception_sessions s
LEFT JOIN unit_province up ON up.unit_code = s.unit_code
