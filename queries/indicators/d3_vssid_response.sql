-- d3_vssid_response: VssID requests whose one-working-hour deadline falls
-- on a date in [ps, pe'], answered by the deadline instant / all.
SELECT s.province_code,
       sum(CASE WHEN s.on_time THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM stages s
CROSS JOIN params p
WHERE s.stage = 'vssid_response'
  AND s.deadline BETWEEN p.ps AND p.pe
  AND s.province_code IS NOT NULL
GROUP BY s.province_code
