-- Unit-months of the scored period without a periodic reception session
-- hosted by the head: exactly what r1 counts as missing (the same view,
-- `head_reception_months`).
SELECT hm.unit_code,
       u.unit_name,
       hm.month_start AS month
FROM head_reception_months hm
JOIN units u ON u.unit_code = hm.unit_code
WHERE NOT hm.head_received
  AND hm.province_code = $province
ORDER BY hm.month_start, hm.unit_code
