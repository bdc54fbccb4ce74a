-- Requesters (by pseudonymous reference only) with cases in the scored
-- period that repeat an earlier case of theirs in the same province within
-- the repeat window: the repeat cases are what x1 counts.
WITH rc AS (
    SELECT c.case_id, c.requester_ref, c.received_at, up.province_code
    FROM cases c
    JOIN unit_province up ON up.unit_code = c.unit_code
    WHERE c.requester_ref IS NOT NULL AND up.province_code = $province
),
in_period AS (
    SELECT rc.* FROM rc CROSS JOIN params p
    WHERE CAST(rc.received_at AS DATE) BETWEEN p.ps AND p.pe
),
repeats AS (
    SELECT DISTINCT a.case_id, a.requester_ref, a.received_at
    FROM in_period a
    CROSS JOIN rules r
    JOIN rc b
      ON b.requester_ref = a.requester_ref
     AND b.case_id <> a.case_id
     AND b.received_at < a.received_at
     AND CAST(b.received_at AS BIGINT) >= CAST(a.received_at AS BIGINT) - r.repeat_window_micros
)
SELECT requester_ref,
       count(*) AS repeat_cases,
       CAST(min(received_at) AS DATE) AS first_repeat,
       CAST(max(received_at) AS DATE) AS last_repeat,
       string_agg(case_id, ' ' ORDER BY received_at, case_id) AS case_ids
FROM repeats
GROUP BY requester_ref
ORDER BY repeat_cases DESC, requester_ref
