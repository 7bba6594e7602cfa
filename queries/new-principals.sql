-- name: new-principals
-- title: New principals
-- description: Actors first seen at or after the window start (--since, or --param since=...), compared with everything before it in the data.
-- param: since timestamp - Start of the window (a date or RFC 3339 time); --since sets it
SELECT
    actor,
    MIN(identity_type) AS identity_type,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen,
    COUNT(*) AS calls,
    COUNT(DISTINCT event_name) AS operations,
    COUNT(DISTINCT source_ip_address) AS source_ips
FROM events
WHERE actor IS NOT NULL
GROUP BY actor
HAVING MIN(event_time) >= {{since}}
ORDER BY first_seen, actor
