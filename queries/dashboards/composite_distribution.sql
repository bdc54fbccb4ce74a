-- How many provinces fall in each band of the composite in $period.
SELECT b.band,
       COUNT(l.province_code) AS provinces
FROM (VALUES ('<50', 0.0, 50.0, 1),
             ('50–60', 50.0, 60.0, 2),
             ('60–70', 60.0, 70.0, 3),
             ('70–80', 70.0, 80.0, 4),
             ('80–85', 80.0, 85.0, 5),
             ('85–90', 85.0, 90.0, 6),
             ('90–100', 90.0, 100.01, 7)) AS b(band, lo, hi, ord)
LEFT JOIN league_table l
       ON l.period = $period AND l.composite >= b.lo AND l.composite < b.hi
GROUP BY b.band, b.ord
ORDER BY b.ord
