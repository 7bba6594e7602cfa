-- name: principals
-- title: Principals
-- description: Every actor with first and last seen, read and write call counts, errors and distinct source addresses.
SELECT
    actor,
    MIN(identity_type) AS identity_type,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen,
    COUNT(*) AS calls,
    SUM(CASE WHEN COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%') THEN 1 ELSE 0 END) AS reads,
    SUM(CASE WHEN COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%') THEN 0 ELSE 1 END) AS writes,
    SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS errors,
    COUNT(DISTINCT source_ip_address) AS source_ips
FROM events
WHERE actor IS NOT NULL
GROUP BY actor
ORDER BY calls DESC, actor
