-- Records of the scored period not entered in the national database, or
-- entered later than the allowed working days: `not_entered` rows are what
-- e1 counts as missing, all rows what e2 counts as not on time.
SELECT r.record_kind,
       r.record_id,
       r.unit_code,
       r.occurred_date,
       CAST(r.entered_at AS DATE) AS entered_date,
       CASE WHEN r.entered_at IS NULL THEN NULL
            ELSE wd_between(r.occurred_date, CAST(r.entered_at AS DATE)) END AS working_days,
       CASE WHEN r.entered_at IS NULL THEN 'not_entered' ELSE 'late' END AS status
FROM entry_records r
JOIN unit_province up ON up.unit_code = r.unit_code
CROSS JOIN params p
CROSS JOIN rules rl
WHERE r.occurred_date BETWEEN p.ps AND p.pe
  AND up.province_code = $province
  AND (r.entered_at IS NULL
       OR wd_between(r.occurred_date, CAST(r.entered_at AS DATE)) > rl.entry_max_working_days)
ORDER BY status DESC, r.occurred_date, r.record_id
