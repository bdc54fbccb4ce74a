-- e4_account_coverage: assignments active at pe' whose national-database
-- account is active at pe' / all assignments active at pe'.
SELECT up.province_code,
       sum(CASE WHEN o.account_id IS NOT NULL
                 AND CAST(o.account_granted_at AS DATE) <= p.pe
                 AND (o.account_revoked_at IS NULL OR CAST(o.account_revoked_at AS DATE) > p.pe)
                THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM officials o
JOIN unit_province up ON up.unit_code = o.unit_code
CROSS JOIN params p
WHERE o.assigned_from <= p.pe
  AND (o.assigned_to IS NULL OR o.assigned_to >= p.pe)
  AND up.province_code IS NOT NULL
GROUP BY up.province_code
