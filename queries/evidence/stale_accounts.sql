-- National-database accounts still active at pe' although every holder is
-- out of duty and the last assignment ended in the window of e5: exactly
-- what e5 counts as not closed.
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
SELECT l.account_id,
       l.official_ref,
       l.unit_code,
       l.assigned_to AS assignment_ended,
       CAST(p.pe - l.assigned_to AS BIGINT) AS days_since_end,
       CAST(l.account_granted_at AS DATE) AS account_granted,
       CAST(l.last_login_at AS DATE) AS last_login
FROM last_row l
JOIN unit_province up ON up.unit_code = l.unit_code
CROSS JOIN params p
LEFT JOIN held_by_someone_on_duty h ON h.account_id = l.account_id
WHERE h.account_id IS NULL
  AND l.assigned_to BETWEEN p.stale_from AND p.stale_to
  AND up.province_code = $province
  AND CAST(l.account_granted_at AS DATE) <= p.pe
  AND (l.account_revoked_at IS NULL OR CAST(l.account_revoked_at AS DATE) > p.pe)
ORDER BY days_since_end DESC, l.account_id
