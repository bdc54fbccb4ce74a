-- x2_recovery_rate (monitoring): amounts recovered / amounts to recover
-- (VND) over cases first settled in [ps, pe'] with something to recover.
-- It may exceed 1.
SELECT c.province_code,
       sum(coalesce(c.amount_recovered_vnd, 0)) AS numerator,
       sum(c.amount_to_recover_vnd) AS denominator
FROM case_facts c
CROSS JOIN params p
WHERE c.first_settled_date BETWEEN p.ps AND p.pe
  AND c.amount_to_recover_vnd > 0
  AND c.province_code IS NOT NULL
GROUP BY c.province_code
