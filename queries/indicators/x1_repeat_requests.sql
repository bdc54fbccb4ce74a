-- x1_repeat_requests (monitoring): cases received in [ps, pe'] whose
-- requester had another case in the same current province in the
-- preceding window (365 days by default) / cases received in [ps, pe'] with
-- a requester reference.
WITH rc AS (
    SELECT c.case_id, c.requester_ref, c.received_at, c.province_code
    FROM case_facts c
    WHERE c.requester_ref IS NOT NULL AND c.province_code IS NOT NULL
),
in_period AS (
    SELECT rc.* FROM rc CROSS JOIN params p
    WHERE CAST(rc.received_at AS DATE) BETWEEN p.ps AND p.pe
),
-- The cases a repeat can follow: received before the last case of the
-- period and at most the window before its first. The join below asks
-- exactly this of each pair; this only spares it the rest of the history.
earlier AS (
    SELECT rc.* FROM rc CROSS JOIN rules r
    WHERE rc.received_at < (SELECT max(received_at) FROM in_period)
      AND CAST(rc.received_at AS BIGINT)
          >= (SELECT min(CAST(received_at AS BIGINT)) FROM in_period) - r.repeat_window_micros
),
repeats AS (
    SELECT DISTINCT a.case_id
    FROM in_period a
    CROSS JOIN rules r
    JOIN earlier b
      ON b.requester_ref = a.requester_ref
     AND b.province_code = a.province_code
     AND b.case_id <> a.case_id
     AND b.received_at < a.received_at
     AND CAST(b.received_at AS BIGINT) >= CAST(a.received_at AS BIGINT) - r.repeat_window_micros
)
SELECT a.province_code,
       count(rp.case_id) AS numerator,
       count(*) AS denominator
FROM in_period a
LEFT JOIN repeats rp ON rp.case_id = a.case_id
GROUP BY a.province_code
