-- case_facts: per case, its current row, the current province it counts
-- for and its progress (queries/case_progress.sql): the first event of
-- each completing kind and the extensions that count. Read by the views
-- `cases` and `case_progress`, and directly by e3, x1 and x2.
SELECT c.*,
       up.province_code,
       p.case_id IS NOT NULL AS has_progress,
       p.acceptance_done, p.response_done, p.settlement_done, p.vssid_done,
       p.first_accepted, p.first_settled, p.extensions_filed,
       CAST(p.first_settled AS DATE) AS first_settled_date
FROM cases c
LEFT JOIN unit_province up ON up.unit_code = c.unit_code
LEFT JOIN case_progress p ON p.case_id = c.case_id
