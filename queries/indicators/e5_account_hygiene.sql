-- e5_account_hygiene: accounts whose holders are all out of duty at pe' and
-- whose last assignment ended between 395 and 30 days before pe' (the
-- window comes from the rules file); closed at pe' / all such accounts
-- (Decision 967/QĐ-BHXH). The accounts and their province are the view
-- `account_closure` (queries/account_closure.sql).
SELECT province_code,
       sum(CASE WHEN still_active THEN 0 ELSE 1 END) AS numerator,
       count(*) AS denominator
FROM account_closure
WHERE province_code IS NOT NULL
GROUP BY province_code
