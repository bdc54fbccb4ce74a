-- Every indicator of one province in $period with its numerator and
-- denominator, the national value (sum of numerators over sum of
-- denominators, never a mean of rates), the value in the period before,
-- and the province's composite and tier.
WITH national AS (
    SELECT indicator,
           CAST(SUM(numerator) AS DOUBLE) / NULLIF(SUM(denominator), 0) AS national_value
    FROM indicator_values
    WHERE period = $period
    GROUP BY indicator
)
SELECT i.indicator,
       i.value,
       i.numerator,
       i.denominator,
       n.national_value,
       pv.value AS prev_value,
       l.composite,
       l.tier
FROM indicator_values i
JOIN national n ON n.indicator = i.indicator
JOIN league_table l ON l.province_code = i.province_code AND l.period = i.period
LEFT JOIN indicator_values pv
       ON pv.province_code = i.province_code
      AND pv.indicator = i.indicator
      AND pv.period = $prev_period
WHERE i.period = $period
  AND i.province_code = $province
ORDER BY CASE substr(i.indicator, 1, 1)
             WHEN 'r' THEN 1 WHEN 'd' THEN 2 WHEN 'e' THEN 3 ELSE 4
         END,
         i.indicator
