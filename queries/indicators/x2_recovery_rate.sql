-- x2_recovery_rate (monitoring): amounts recovered / amounts to recover
-- (VND) over cases first settled in [ps, pe'] with something to recover.
-- It may exceed 1.
SELECT up.province_code,
       sum(coalesce(c.amount_recovered_vnd, 0)) AS numerator,
       sum(c.amount_to_recover_vnd) AS denominator
FROM case_progress f
JOIN cases c ON c.case_id = f.case_id
JOIN unit_province up ON up.unit_code = c.unit_code
CROSS JOIN params p
WHERE CAST(f.first_settled AS DATE) BETWEEN p.ps AND p.pe
  AND c.amount_to_recover_vnd > 0
  AND up.province_code IS NOT NULL
GROUP BY up.province_code
