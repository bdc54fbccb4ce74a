-- e2_entry_timeliness: the same records entered within the allowed number
-- of working days after the day they occurred / all such records. The
-- working days (`wd_between` of the two days) are counted at ingest.
SELECT r.province_code,
       sum(CASE WHEN r.entered_at IS NOT NULL
                 AND r.entry_working_days <= rl.entry_max_working_days
                THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM entry_records r
CROSS JOIN params p
CROSS JOIN rules rl
WHERE r.occurred_date BETWEEN p.ps AND p.pe AND r.province_code IS NOT NULL
GROUP BY r.province_code
