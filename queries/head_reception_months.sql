-- head_reception_months: the unit-months r1 counts (Law on Citizen
-- Reception 2013 Art. 18): province and local units valid on every day of
-- a month lying wholly in [ps, pe'], each with whether a periodic session
-- hosted by the head took place. Defined anew each time `params` is set;
-- read by indicators/r1_head_reception.sql and
-- evidence/head_reception_gaps.sql.
-- Only sessions in [ps, pe'] can fall in a month lying wholly in it.
WITH head_months AS (
    SELECT DISTINCT unit_code, CAST(date_trunc('month', session_date) AS DATE) AS month_start
    FROM reception_sessions
    CROSS JOIN params p
    WHERE kind = 'periodic' AND host_role = 'head'
      AND session_date BETWEEN p.ps AND p.pe
)
SELECT up.province_code,
       up.unit_code,
       m.month_start,
       h.unit_code IS NOT NULL AS head_received
FROM unit_province up
CROSS JOIN params p
JOIN months m
  ON m.month_start >= p.ps AND m.month_end <= p.pe
 AND up.valid_from <= m.month_start
 AND (up.valid_to IS NULL OR up.valid_to >= m.month_end)
LEFT JOIN head_months h
  ON h.unit_code = up.unit_code AND h.month_start = m.month_start
WHERE up.level IN ('province', 'local')
