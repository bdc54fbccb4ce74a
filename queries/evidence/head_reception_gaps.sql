-- Unit-months of the scored period without a periodic reception session
-- hosted by the head: exactly what r1 counts as missing.
WITH head_months AS (
    SELECT DISTINCT unit_code, CAST(date_trunc('month', session_date) AS DATE) AS month_start
    FROM reception_sessions
    WHERE kind = 'periodic' AND host_role = 'head'
)
SELECT up.unit_code,
       u.unit_name,
       m.month_start AS month
FROM unit_province up
JOIN units u ON u.unit_code = up.unit_code
CROSS JOIN params p
JOIN months m
  ON m.month_start >= p.ps AND m.month_end <= p.pe
 AND up.valid_from <= m.month_start
 AND (up.valid_to IS NULL OR up.valid_to >= m.month_end)
LEFT JOIN head_months h
  ON h.unit_code = up.unit_code AND h.month_start = m.month_start
WHERE up.level IN ('province', 'local')
  AND up.province_code = $province
  AND h.unit_code IS NULL
ORDER BY m.month_start, up.unit_code
