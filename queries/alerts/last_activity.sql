-- The last day each province shows activity in the store as of the
-- extract: a case received or a reception session held at one of its
-- units (current province, so merged provinces count as one).
SELECT up.province_code,
       max(x.day) AS last_day
FROM (
    SELECT unit_code, CAST(received_at AS DATE) AS day FROM cases
    UNION ALL
    SELECT unit_code, session_date AS day FROM reception_sessions
) x
JOIN unit_province up ON up.unit_code = x.unit_code
GROUP BY up.province_code
