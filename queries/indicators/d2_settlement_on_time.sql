-- d2_settlement_on_time: settlement stages whose deadline is in [ps, pe'],
-- on time / all.
SELECT s.province_code,
       sum(CASE WHEN s.on_time THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM stages s
CROSS JOIN params p
WHERE s.stage = 'settlement'
  AND s.deadline BETWEEN p.ps AND p.pe
  AND s.province_code IS NOT NULL
GROUP BY s.province_code
