-- name: source-ips
-- title: Source addresses
-- description: Every source address (or calling service) with each actor that used it, first and last seen and call counts.
SELECT
    source_ip_address,
    actor,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen,
    COUNT(*) AS calls,
    SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS errors
FROM events
GROUP BY source_ip_address, actor
ORDER BY source_ip_address, actor
