-- stages: one row per case stage with its start, statutory deadline,
-- completion and on-time flag (METHODOLOGY section 5). The limits come from
-- the one-row table `rules` (the rules file); the calendar functions from
-- the shipped working-day calendar. One pass over the cases: each case is
-- paired with the stages that apply to it.
WITH c AS (
    SELECT
        c.case_id, c.unit_code, up.province_code, c.case_type, c.channel,
        c."round", c.complexity, c.remote_area, c.received_at,
        CAST(c.received_at AS DATE) AS received_date,
        c.complexity IN ('complex', 'especially_complex') AS is_complex,
        p.acceptance_done, p.response_done, p.settlement_done, p.vssid_done,
        CAST(p.first_accepted AS DATE) AS accepted_date,
        coalesce(p.extensions_filed, 0) AS extensions_filed
    FROM cases c
    JOIN unit_province up ON up.unit_code = c.unit_code
    LEFT JOIN case_progress p ON p.case_id = c.case_id
),
kinds AS (
    SELECT * FROM (VALUES ('acceptance'), ('response'), ('settlement'), ('vssid_response')) AS k(stage)
),
paired AS (
    SELECT c.*, r.*,
           -- Extensions that count: capped at 0, 1 or 2 by complexity.
           least(c.extensions_filed,
                 CASE c.complexity
                     WHEN 'especially_complex' THEN r.denunciation_max_ext_especially_complex
                     WHEN 'complex' THEN r.denunciation_max_ext_complex
                     ELSE r.denunciation_max_ext_normal
                 END) AS extensions_allowed
    -- The one-row `rules` table goes first so that the cross join streams
    -- the cases in their own batches rather than one row at a time.
    FROM rules r
    CROSS JOIN (
        SELECT c.*, k.stage
        FROM c JOIN kinds k
          ON (k.stage = 'acceptance' AND c.case_type IN ('complaint', 'denunciation'))
          OR (k.stage = 'response' AND c.case_type IN ('recommendation', 'reflection'))
          -- A case never accepted has no settlement stage.
          OR (k.stage = 'settlement' AND c.case_type IN ('complaint', 'denunciation')
              AND c.accepted_date IS NOT NULL)
          OR (k.stage = 'vssid_response' AND c.channel = 'vssid')
    ) c
),
dated AS (
    SELECT
        case_id, unit_code, province_code, case_type, stage,
        CASE WHEN stage = 'settlement' THEN accepted_date ELSE received_date END AS start_date,
        CASE stage
            WHEN 'acceptance' THEN wd_add(received_date,
                CASE case_type WHEN 'complaint' THEN acceptance_complaint_wd ELSE acceptance_denunciation_wd END)
            WHEN 'response' THEN wd_add(received_date, response_wd)
            WHEN 'settlement' THEN cal_deadline(accepted_date,
                CASE
                    WHEN case_type = 'denunciation'
                        THEN denunciation_days + denunciation_extension_days * extensions_allowed
                    WHEN "round" = 2 AND remote_area AND is_complex THEN complaint2_remote_complex_days
                    WHEN "round" = 2 AND remote_area THEN complaint2_remote_days
                    WHEN "round" = 2 AND is_complex THEN complaint2_complex_days
                    WHEN "round" = 2 THEN complaint2_days
                    WHEN remote_area AND is_complex THEN complaint1_remote_complex_days
                    WHEN remote_area THEN complaint1_remote_days
                    WHEN is_complex THEN complaint1_complex_days
                    ELSE complaint1_days
                END)
        END AS day_deadline,
        -- VssID: one working hour from the request.
        CASE WHEN stage = 'vssid_response' THEN wh_add(received_at, vssid_response_seconds) END AS deadline_at,
        CASE stage
            WHEN 'acceptance' THEN acceptance_done
            WHEN 'response' THEN response_done
            WHEN 'settlement' THEN settlement_done
            ELSE vssid_done
        END AS completed_at,
        CASE WHEN stage = 'settlement' AND case_type = 'denunciation' THEN extensions_allowed END AS extensions_counted
    FROM paired
)
SELECT
    case_id, unit_code, province_code, case_type, stage, start_date,
    coalesce(day_deadline, CAST(deadline_at AS DATE)) AS deadline,
    deadline_at,
    completed_at,
    CAST(completed_at AS DATE) AS completed_date,
    -- Day stages: completed on or before the deadline date; VssID: by the
    -- deadline instant. Not completed by as-of: late.
    CASE
        WHEN completed_at IS NULL THEN false
        WHEN deadline_at IS NOT NULL THEN completed_at <= deadline_at
        ELSE CAST(completed_at AS DATE) <= day_deadline
    END AS on_time,
    extensions_counted
FROM dated
