-- e3_record_completeness: cases first settled in [ps, pe'] with a
-- non-blank content summary, a non-blank result summary and at least one
-- attachment / all such cases.
WITH first_settled AS (
    SELECT case_id, min(occurred_at) AS settled_at
    FROM case_events
    WHERE event_type = 'settled'
    GROUP BY case_id
)
SELECT up.province_code,
       sum(CASE WHEN NOT is_blank(c.content_summary)
                 AND NOT is_blank(c.result_summary)
                 AND c.attachments_count >= 1 THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM first_settled f
JOIN cases c ON c.case_id = f.case_id
JOIN unit_province up ON up.unit_code = c.unit_code
CROSS JOIN params p
WHERE CAST(f.settled_at AS DATE) BETWEEN p.ps AND p.pe AND up.province_code IS NOT NULL
GROUP BY up.province_code
