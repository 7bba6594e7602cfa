-- name: failed-calls
-- title: Failed CloudHSM calls
-- description: CloudHSM calls that returned an error, by principal, operation and error code.
SELECT
    actor,
    identity_type,
    event_name,
    error_code,
    COUNT(*) AS calls,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND error_code IS NOT NULL
GROUP BY actor, identity_type, event_name, error_code
ORDER BY calls DESC, actor, event_name, error_code
