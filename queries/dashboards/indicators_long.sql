-- Every indicator of every province in $period (the long form).
SELECT i.province_code,
       p.name_vi AS province_name,
       i.indicator,
       i.numerator,
       i.denominator,
       i.value
FROM indicator_values i
JOIN provinces p ON p.province_code = i.province_code
WHERE i.period = $period
ORDER BY i.province_code, i.indicator
