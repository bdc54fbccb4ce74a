-- e3_record_completeness: cases first settled in [ps, pe'] with a
-- non-blank content summary, a non-blank result summary and at least one
-- attachment / all such cases.
SELECT up.province_code,
       sum(CASE WHEN NOT is_blank(c.content_summary)
                 AND NOT is_blank(c.result_summary)
                 AND c.attachments_count >= 1 THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM case_progress f
JOIN cases c ON c.case_id = f.case_id
JOIN unit_province up ON up.unit_code = c.unit_code
CROSS JOIN params p
WHERE CAST(f.first_settled AS DATE) BETWEEN p.ps AND p.pe AND up.province_code IS NOT NULL
GROUP BY up.province_code
