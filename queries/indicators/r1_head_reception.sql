-- r1_head_reception: unit-months (province and local units valid on every
-- day of a month lying wholly in [ps, pe']) with at least one periodic
-- session hosted by the head (Law on Citizen Reception 2013 Art. 18).
WITH head_months AS (
    SELECT DISTINCT unit_code, CAST(date_trunc('month', session_date) AS DATE) AS month_start
    FROM reception_sessions
    WHERE kind = 'periodic' AND host_role = 'head'
)
SELECT up.province_code,
       count(h.unit_code) AS numerator,
       count(*) AS denominator
FROM unit_province up
CROSS JOIN params p
JOIN months m
  ON m.month_start >= p.ps AND m.month_end <= p.pe
 AND up.valid_from <= m.month_start
 AND (up.valid_to IS NULL OR up.valid_to >= m.month_end)
LEFT JOIN head_months h
  ON h.unit_code = up.unit_code AND h.month_start = m.month_start
WHERE up.level IN ('province', 'local') AND up.province_code IS NOT NULL
GROUP BY up.province_code
