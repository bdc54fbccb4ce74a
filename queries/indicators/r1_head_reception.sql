-- r1_head_reception: unit-months (province and local units valid on every
-- day of a month lying wholly in [ps, pe']) with at least one periodic
-- session hosted by the head (Law on Citizen Reception 2013 Art. 18). The
-- unit-months are the view `head_reception_months`.
SELECT province_code,
       sum(CASE WHEN head_received THEN 1 ELSE 0 END) AS numerator,
       count(*) AS denominator
FROM head_reception_months
WHERE province_code IS NOT NULL
GROUP BY province_code
