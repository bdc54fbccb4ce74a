-- r2_head_share: sessions in [ps, pe'] hosted by the head / all sessions.
SELECT s.province_code,
       sum(CASE WHEN s.host_role = 'head' THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM session_facts s
CROSS JOIN params p
WHERE s.session_date BETWEEN p.ps AND p.pe AND s.province_code IS NOT NULL
GROUP BY s.province_code
