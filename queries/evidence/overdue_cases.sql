-- Stages open and overdue at pe' (the end of the scored period, or the
-- as-of date if earlier): started on or before pe', not completed by pe',
-- deadline before pe'. The settlement rows are exactly what d4 counts as
-- overdue (denominator − numerator). Days overdue are calendar days.
WITH last_event AS (
    SELECT case_id, event_type, occurred_at FROM (
        SELECT e.case_id, e.event_type, e.occurred_at,
               row_number() OVER (PARTITION BY e.case_id
                                  ORDER BY e.occurred_at DESC, e.event_id DESC) AS rn
        FROM case_events e CROSS JOIN params p
        WHERE CAST(e.occurred_at AS DATE) <= p.pe
    ) WHERE rn = 1
)
SELECT s.case_id,
       s.case_type,
       s.unit_code,
       s.stage,
       s.start_date,
       s.deadline,
       CAST(p.pe - s.deadline AS BIGINT) AS days_overdue,
       le.event_type AS last_event,
       CAST(le.occurred_at AS DATE) AS last_event_date
FROM stages s
CROSS JOIN params p
LEFT JOIN last_event le ON le.case_id = s.case_id
WHERE s.province_code = $province
  AND s.start_date <= p.pe
  AND (s.completed_date IS NULL OR s.completed_date > p.pe)
  AND s.deadline < p.pe
ORDER BY days_overdue DESC, s.case_id, s.stage
