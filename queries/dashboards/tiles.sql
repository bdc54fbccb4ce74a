-- The 34 provinces on a grid laid out roughly north to south, with their
-- tier and composite in $period.
SELECT t.province_code,
       p.name_vi AS province_name,
       COALESCE(l.tier, 'insufficient') AS tier,
       l.composite,
       t.tile_row,
       t.tile_col
FROM province_tiles t
JOIN provinces p ON p.province_code = t.province_code
LEFT JOIN league_table l ON l.province_code = t.province_code AND l.period = $period
ORDER BY t.tile_row, t.tile_col
