-- d1_acceptance_on_time: acceptance and response stages whose deadline is
-- in [ps, pe'], on time / all. A stage not completed by as-of is late.
SELECT s.province_code,
       sum(CASE WHEN s.on_time THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM stages s
CROSS JOIN params p
WHERE s.stage IN ('acceptance', 'response')
  AND s.deadline BETWEEN p.ps AND p.pe
  AND s.province_code IS NOT NULL
GROUP BY s.province_code
