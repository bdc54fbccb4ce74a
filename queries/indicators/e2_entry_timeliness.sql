-- e2_entry_timeliness: the same records entered within the allowed number
-- of working days after the day they occurred / all such records.
SELECT up.province_code,
       sum(CASE WHEN r.entered_at IS NOT NULL
                 AND wd_between(r.occurred_date, CAST(r.entered_at AS DATE)) <= rl.entry_max_working_days
                THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM entry_records r
JOIN unit_province up ON up.unit_code = r.unit_code
CROSS JOIN params p
CROSS JOIN rules rl
WHERE r.occurred_date BETWEEN p.ps AND p.pe AND up.province_code IS NOT NULL
GROUP BY up.province_code
