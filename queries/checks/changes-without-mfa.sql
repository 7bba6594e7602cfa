-- name: changes-without-mfa
-- title: A change was made without MFA
-- severity: medium
-- type: Software and Configuration Checks/AWS Security Best Practices
-- mitre: T1078.004
-- why: A change to CloudHSM, or to what guards it (key stores, backup shares, audit logs, trails), made with access keys or a session not authenticated with MFA rests on a single secret, which is what stolen or leaked credentials look like.
-- action: Confirm the principal made the change; require MFA for such changes (an aws:MultiFactorAuthPresent condition in the IAM policy) and move automation to roles instead of long-term access keys.
WITH matched AS (
    SELECT
        events.*,
        COALESCE(CASE WHEN event_name LIKE '%Cluster%' THEN cluster_id END, backup_id, hsm_id,
                 request_custom_key_store_id, request_log_group_name, request_trail_name, cluster_id) AS touched
    FROM events
    WHERE (event_source = 'cloudhsm.amazonaws.com' OR cloudhsm_relation IS NOT NULL)
      AND COALESCE(event_type, 'AwsApiCall') = 'AwsApiCall'
      AND NOT COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%')
      AND COALESCE(identity_type, '') NOT IN ('AWSService', 'AWSAccount')
      AND NOT COALESCE(identity_session_mfa_authenticated, false)
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(touched, recipient_account_id) AS resource,
    event_id AS event_ids,
    COALESCE(event_name, 'A call')
        || COALESCE(' on ' || touched, '')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE WHEN identity_session_mfa_authenticated IS NULL
                THEN ' with no session context (access keys, which have no MFA)'
                ELSE ' in a session not authenticated with MFA' END
        || COALESCE(', refused: ' || error_code, '') AS detail
FROM matched
ORDER BY event_time, resource, event_ids
