-- d4_backlog_health: settlement stages open at pe' (started on or before
-- pe', not completed on or before pe'); those not yet overdue (deadline on
-- or after pe') / all open.
SELECT s.province_code,
       sum(CASE WHEN s.deadline >= p.pe THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM stages s
CROSS JOIN params p
WHERE s.stage = 'settlement'
  AND s.start_date <= p.pe
  AND (s.completed_date IS NULL OR s.completed_date > p.pe)
  AND s.province_code IS NOT NULL
GROUP BY s.province_code
