-- name: access-denied
-- title: Access denied
-- description: Every CloudHSM call refused for lack of permission, with the caller and what it tried.
SELECT
    event_time,
    actor,
    identity_type,
    identity_arn,
    source_ip_address,
    aws_region,
    event_name,
    error_code,
    error_message,
    cluster_id,
    hsm_id,
    backup_id
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND (error_code LIKE '%AccessDenied%' OR error_code LIKE '%UnauthorizedOperation%')
ORDER BY event_time
