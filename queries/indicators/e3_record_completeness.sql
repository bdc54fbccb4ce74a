-- e3_record_completeness: cases first settled in [ps, pe'] with a
-- non-blank content summary, a non-blank result summary and at least one
-- attachment / all such cases.
SELECT c.province_code,
       sum(CASE WHEN NOT is_blank(c.content_summary)
                 AND NOT is_blank(c.result_summary)
                 AND c.attachments_count >= 1 THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM case_facts c
CROSS JOIN params p
WHERE c.first_settled_date BETWEEN p.ps AND p.pe AND c.province_code IS NOT NULL
GROUP BY c.province_code
