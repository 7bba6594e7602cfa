-- name: changes
-- title: CloudHSM changes
-- description: Every mutating CloudHSM API call: who, when, from where, on which resource, with what result.
SELECT
    event_time,
    actor,
    identity_type,
    source_ip_address,
    aws_region,
    event_name,
    cluster_id,
    hsm_id,
    backup_id,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND COALESCE(event_type, 'AwsApiCall') = 'AwsApiCall'
  AND NOT COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%')
ORDER BY event_time, event_id
