-- One province's area scores and composite over the periods of the same
-- kind (month, quarter or year) up to $period that have been scored.
SELECT l.period,
       l.composite,
       l.reception_score,
       l.deadlines_score,
       l.data_entry_score
FROM league_table l
JOIN periods p ON p.period = l.period
JOIN periods c ON c.period = $period
WHERE l.province_code = $province
  AND p.kind = c.kind
  AND p.period_start <= c.period_start
ORDER BY p.period_start
