-- National-database accounts still active at pe' although every holder is
-- out of duty and the last assignment ended in the window of e5: exactly
-- what e5 counts as not closed (the same view, `account_closure`).
SELECT account_id,
       official_ref,
       unit_code,
       assignment_ended,
       days_since_end,
       account_granted,
       last_login
FROM account_closure
WHERE still_active
  AND province_code = $province
ORDER BY days_since_end DESC, account_id
