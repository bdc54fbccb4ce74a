-- e1_entry_coverage: records that occurred in [ps, pe'] (reception sessions;
-- accepted, extended, transferred and settled events) entered in the
-- national database / all such records (Decree 55/2022 Art. 8).
SELECT r.province_code,
       count(r.entered_at) AS numerator,
       count(*) AS denominator
FROM entry_records r
CROSS JOIN params p
WHERE r.occurred_date BETWEEN p.ps AND p.pe AND r.province_code IS NOT NULL
GROUP BY r.province_code
