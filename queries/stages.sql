-- stages: one row per case stage with its start, statutory deadline,
-- completion and on-time flag (METHODOLOGY section 5). The limits come from
-- the one-row table `rules` (the rules file); the calendar functions from
-- the shipped working-day calendar.
WITH ev AS (
    -- `reopened` events are ignored everywhere.
    SELECT case_id, event_type, occurred_at
    FROM case_events
    WHERE event_type <> 'reopened'
),
per_case AS (
    -- A stage is completed by the first completing event, even one dated
    -- before the stage starts; `withdrawn` completes every stage.
    SELECT
        case_id,
        min(CASE WHEN event_type IN ('accepted', 'transferred', 'withdrawn') THEN occurred_at END) AS acceptance_done,
        min(CASE WHEN event_type IN ('responded', 'settled', 'transferred', 'withdrawn') THEN occurred_at END) AS response_done,
        min(CASE WHEN event_type IN ('settled', 'withdrawn') THEN occurred_at END) AS settlement_done,
        min(CASE WHEN event_type IN ('responded', 'settled', 'withdrawn') THEN occurred_at END) AS vssid_done,
        min(CASE WHEN event_type = 'accepted' THEN occurred_at END) AS first_accepted
    FROM ev
    GROUP BY case_id
),
extensions AS (
    -- Extensions dated on or before the settlement's completion date; all
    -- of them while it is open.
    SELECT e.case_id, count(*) AS n
    FROM ev e
    JOIN per_case p ON p.case_id = e.case_id
    WHERE e.event_type = 'extended'
      AND (p.settlement_done IS NULL
           OR CAST(e.occurred_at AS DATE) <= CAST(p.settlement_done AS DATE))
    GROUP BY e.case_id
),
c AS (
    SELECT
        c.case_id, c.unit_code, up.province_code, c.case_type, c.channel,
        c."round", c.complexity, c.remote_area, c.received_at,
        CAST(c.received_at AS DATE) AS received_date,
        c.complexity IN ('complex', 'especially_complex') AS is_complex,
        p.acceptance_done, p.response_done, p.settlement_done, p.vssid_done,
        CAST(p.first_accepted AS DATE) AS accepted_date,
        coalesce(x.n, 0) AS extensions_filed
    FROM cases c
    JOIN unit_province up ON up.unit_code = c.unit_code
    LEFT JOIN per_case p ON p.case_id = c.case_id
    LEFT JOIN extensions x ON x.case_id = c.case_id
),
day_stages AS (
    SELECT case_id, unit_code, province_code, case_type, 'acceptance' AS stage,
           received_date AS start_date,
           wd_add(received_date, CASE case_type WHEN 'complaint' THEN r.acceptance_complaint_wd
                                                ELSE r.acceptance_denunciation_wd END) AS deadline,
           acceptance_done AS completed_at,
           CAST(NULL AS BIGINT) AS extensions_counted
    FROM c CROSS JOIN rules r
    WHERE case_type IN ('complaint', 'denunciation')
    UNION ALL
    SELECT case_id, unit_code, province_code, case_type, 'response',
           received_date, wd_add(received_date, r.response_wd), response_done,
           CAST(NULL AS BIGINT)
    FROM c CROSS JOIN rules r
    WHERE case_type IN ('recommendation', 'reflection')
    UNION ALL
    -- A case never accepted has no settlement stage.
    SELECT case_id, unit_code, province_code, case_type, 'settlement',
           accepted_date,
           cal_deadline(accepted_date,
               CASE
                   WHEN "round" = 2 AND remote_area AND is_complex THEN r.complaint2_remote_complex_days
                   WHEN "round" = 2 AND remote_area THEN r.complaint2_remote_days
                   WHEN "round" = 2 AND is_complex THEN r.complaint2_complex_days
                   WHEN "round" = 2 THEN r.complaint2_days
                   WHEN remote_area AND is_complex THEN r.complaint1_remote_complex_days
                   WHEN remote_area THEN r.complaint1_remote_days
                   WHEN is_complex THEN r.complaint1_complex_days
                   ELSE r.complaint1_days
               END),
           settlement_done,
           CAST(NULL AS BIGINT)
    FROM c CROSS JOIN rules r
    WHERE case_type = 'complaint' AND accepted_date IS NOT NULL
    UNION ALL
    SELECT case_id, unit_code, province_code, case_type, 'settlement',
           accepted_date,
           cal_deadline(accepted_date,
               r.denunciation_days + r.denunciation_extension_days * least(extensions_filed,
                   CASE complexity
                       WHEN 'especially_complex' THEN r.denunciation_max_ext_especially_complex
                       WHEN 'complex' THEN r.denunciation_max_ext_complex
                       ELSE r.denunciation_max_ext_normal
                   END)),
           settlement_done,
           least(extensions_filed,
                 CASE complexity
                     WHEN 'especially_complex' THEN r.denunciation_max_ext_especially_complex
                     WHEN 'complex' THEN r.denunciation_max_ext_complex
                     ELSE r.denunciation_max_ext_normal
                 END)
    FROM c CROSS JOIN rules r
    WHERE case_type = 'denunciation' AND accepted_date IS NOT NULL
)
SELECT case_id, unit_code, province_code, case_type, stage, start_date, deadline,
       CAST(NULL AS TIMESTAMP) AS deadline_at,
       completed_at, CAST(completed_at AS DATE) AS completed_date,
       coalesce(CAST(completed_at AS DATE) <= deadline, false) AS on_time,
       extensions_counted
FROM day_stages
UNION ALL
-- VssID: one working hour; on time when answered by the deadline instant.
SELECT case_id, unit_code, province_code, case_type, 'vssid_response',
       received_date,
       CAST(wh_add(received_at, r.vssid_response_seconds) AS DATE),
       wh_add(received_at, r.vssid_response_seconds),
       vssid_done, CAST(vssid_done AS DATE),
       coalesce(vssid_done <= wh_add(received_at, r.vssid_response_seconds), false),
       CAST(NULL AS BIGINT)
FROM c CROSS JOIN rules r
WHERE channel = 'vssid'
