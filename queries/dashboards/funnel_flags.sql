-- Provinces whose d2 rate is below the lower 95 % control limit of the
-- funnel plot, worst first; below the 99.8 % limit (z = 3.09) is a flag.
WITH national AS (
    SELECT CAST(SUM(d2_settlement_on_time_num) AS DOUBLE)
           / NULLIF(SUM(d2_settlement_on_time_den), 0) AS mean
    FROM league_table
    WHERE period = $period
),
f AS (
    SELECT l.province_code,
           l.province_name,
           l.d2_settlement_on_time_den AS n,
           l.d2_settlement_on_time AS rate,
           national.mean,
           sqrt(national.mean * (1 - national.mean) / l.d2_settlement_on_time_den) AS se
    FROM league_table l
    CROSS JOIN national
    WHERE l.period = $period
      AND l.d2_settlement_on_time_den > 0
)
SELECT province_code,
       province_name,
       n,
       rate,
       mean AS national_value,
       greatest(mean - 1.96 * se, 0.0) AS lower_95,
       greatest(mean - 3.09 * se, 0.0) AS lower_998,
       rate < mean - 3.09 * se AS flag
FROM f
WHERE rate < mean - 1.96 * se
ORDER BY (rate - mean) / se, province_code
