-- r2_head_share: sessions in [ps, pe'] hosted by the head / all sessions.
SELECT up.province_code,
       sum(CASE WHEN s.host_role = 'head' THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM reception_sessions s
JOIN unit_province up ON up.unit_code = s.unit_code
CROSS JOIN params p
WHERE s.session_date BETWEEN p.ps AND p.pe AND up.province_code IS NOT NULL
GROUP BY up.province_code
