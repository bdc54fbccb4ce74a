-- One province's indicator values (in percent) over the periods of the
-- same kind up to $period.
SELECT l.period,
       100 * l.r1_head_reception      AS r1_head_reception,
       100 * l.r2_head_share          AS r2_head_share,
       100 * l.d1_acceptance_on_time  AS d1_acceptance_on_time,
       100 * l.d2_settlement_on_time  AS d2_settlement_on_time,
       100 * l.d3_vssid_response      AS d3_vssid_response,
       100 * l.d4_backlog_health      AS d4_backlog_health,
       100 * l.e1_entry_coverage      AS e1_entry_coverage,
       100 * l.e2_entry_timeliness    AS e2_entry_timeliness,
       100 * l.e3_record_completeness AS e3_record_completeness,
       100 * l.e4_account_coverage    AS e4_account_coverage,
       100 * l.e5_account_hygiene     AS e5_account_hygiene
FROM league_table l
JOIN periods p ON p.period = l.period
JOIN periods c ON c.period = $period
WHERE l.province_code = $province
  AND p.kind = c.kind
  AND p.period_start <= c.period_start
ORDER BY p.period_start
