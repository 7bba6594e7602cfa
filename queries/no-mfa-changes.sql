-- name: no-mfa-changes
-- title: Changes without MFA
-- description: Mutating CloudHSM calls made by people from sessions not authenticated with MFA (access keys have no MFA either).
SELECT
    event_time,
    actor,
    identity_type,
    identity_session_mfa_authenticated AS mfa,
    source_ip_address,
    event_name,
    cluster_id,
    hsm_id,
    backup_id,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND COALESCE(event_type, 'AwsApiCall') = 'AwsApiCall'
  AND NOT COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%')
  AND COALESCE(identity_type, '') NOT IN ('AWSService', 'AWSAccount')
  AND NOT COALESCE(identity_session_mfa_authenticated, false)
ORDER BY event_time, event_id
