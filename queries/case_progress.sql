-- case_progress: per case, the first event of each completing kind, the
-- first acceptance and settlement, and the extensions filed up to the
-- settlement (METHODOLOGY section 5). `reopened` events are ignored
-- everywhere; `withdrawn` completes every stage.
WITH ev AS (
    SELECT case_id, event_type, occurred_at
    FROM case_events
    WHERE event_type <> 'reopened'
),
per_case AS (
    SELECT
        case_id,
        min(CASE WHEN event_type IN ('accepted', 'transferred', 'withdrawn') THEN occurred_at END) AS acceptance_done,
        min(CASE WHEN event_type IN ('responded', 'settled', 'transferred', 'withdrawn') THEN occurred_at END) AS response_done,
        min(CASE WHEN event_type IN ('settled', 'withdrawn') THEN occurred_at END) AS settlement_done,
        min(CASE WHEN event_type IN ('responded', 'settled', 'withdrawn') THEN occurred_at END) AS vssid_done,
        min(CASE WHEN event_type = 'accepted' THEN occurred_at END) AS first_accepted,
        min(CASE WHEN event_type = 'settled' THEN occurred_at END) AS first_settled
    FROM ev
    GROUP BY case_id
),
extended AS (
    SELECT case_id, occurred_at FROM ev WHERE event_type = 'extended'
)
-- Extensions dated on or before the settlement's completion date; all of
-- them while it is open.
SELECT p.case_id, p.acceptance_done, p.response_done, p.settlement_done, p.vssid_done,
       p.first_accepted, p.first_settled,
       count(x.case_id) AS extensions_filed
FROM per_case p
LEFT JOIN extended x
  ON x.case_id = p.case_id
 AND (p.settlement_done IS NULL OR CAST(x.occurred_at AS DATE) <= CAST(p.settlement_done AS DATE))
GROUP BY p.case_id, p.acceptance_done, p.response_done, p.settlement_done, p.vssid_done,
         p.first_accepted, p.first_settled
