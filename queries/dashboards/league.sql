-- League table of $period for the league-table page, with each province's
-- composite in the period before ($prev_period) for the change column.
SELECT l.province_code,
       l.province_name,
       l.composite,
       l.tier,
       l.reception_score,
       l.deadlines_score,
       l.data_entry_score,
       l.rank,
       l.rank_lo,
       l.rank_hi,
       p.composite AS prev_composite
FROM league_table l
LEFT JOIN league_table p
       ON p.province_code = l.province_code AND p.period = $prev_period
WHERE l.period = $period
ORDER BY l.rank NULLS LAST, l.province_code
