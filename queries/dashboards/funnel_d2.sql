-- Funnel plot of d2 (settlement on time): each province's rate against its
-- denominator, and the national rate p̄ the control limits are drawn around.
WITH national AS (
    SELECT CAST(SUM(d2_settlement_on_time_num) AS DOUBLE)
           / NULLIF(SUM(d2_settlement_on_time_den), 0) AS mean
    FROM league_table
    WHERE period = $period
)
SELECT l.province_code,
       l.province_name,
       CAST(l.d2_settlement_on_time_den AS DOUBLE) AS n,
       l.d2_settlement_on_time AS rate,
       national.mean
FROM league_table l
CROSS JOIN national
WHERE l.period = $period
  AND l.d2_settlement_on_time_den > 0
ORDER BY l.province_code
