-- account_closure: the national-database accounts e5 looks at (METHODOLOGY
-- section 7, Decision 967/QĐ-BHXH): every holder out of duty at pe' and the
-- last assignment ended inside the window of the rules file (`params`
-- stale_from..stale_to). One row per account, in the province of its last
-- assignment's unit, with whether it is still active at pe'. Defined anew
-- each time `params` is set, since it counts to the period's end; read by
-- indicators/e5_account_hygiene.sql and evidence/stale_accounts.sql.
WITH carrying AS (
    SELECT o.*
    FROM officials o CROSS JOIN params p
    WHERE o.account_id IS NOT NULL AND o.assigned_from <= p.pe
),
last_row AS (
    SELECT * FROM (
        SELECT c.*,
               row_number() OVER (PARTITION BY c.account_id
                                  ORDER BY c.assigned_to DESC NULLS FIRST,
                                           c.assigned_from DESC,
                                           c.assignment_id DESC) AS rn
        FROM carrying c
    ) WHERE rn = 1
),
on_duty AS (
    SELECT DISTINCT o.official_ref
    FROM officials o CROSS JOIN params p
    WHERE o.assigned_from <= p.pe AND (o.assigned_to IS NULL OR o.assigned_to >= p.pe)
),
held_by_someone_on_duty AS (
    SELECT DISTINCT c.account_id
    FROM carrying c JOIN on_duty d ON d.official_ref = c.official_ref
)
SELECT up.province_code,
       l.account_id,
       l.official_ref,
       l.unit_code,
       l.assigned_to AS assignment_ended,
       CAST(p.pe - l.assigned_to AS BIGINT) AS days_since_end,
       CAST(l.account_granted_at AS DATE) AS account_granted,
       CAST(l.last_login_at AS DATE) AS last_login,
       coalesce(CAST(l.account_granted_at AS DATE) <= p.pe
                AND (l.account_revoked_at IS NULL OR CAST(l.account_revoked_at AS DATE) > p.pe),
                false) AS still_active
FROM last_row l
JOIN unit_province up ON up.unit_code = l.unit_code
CROSS JOIN params p
LEFT JOIN held_by_someone_on_duty h ON h.account_id = l.account_id
WHERE h.account_id IS NULL
  AND l.assigned_to BETWEEN p.stale_from AND p.stale_to
