-- name: root-activity
-- title: The root user, or a session it issued, was used
-- severity: high
-- type: Software and Configuration Checks/AWS Security Best Practices
-- mitre: T1078.004
-- why: The root user is beyond the reach of IAM policies and AWS advises keeping it for the few tasks only it can do, so each use of it (or of a session it issued) needs an owner and a reason.
-- action: Find out who used the root credentials and why; if nobody can say, change the root password, replace its MFA device, delete any root access keys and review everything done in the session.
WITH matched AS (
    SELECT
        events.*,
        COALESCE(CASE WHEN event_name LIKE '%Cluster%' THEN cluster_id END, backup_id, hsm_id,
                 request_custom_key_store_id, request_log_group_name, request_trail_name, cluster_id) AS touched
    FROM events
    WHERE identity_type = 'Root' OR identity_session_issuer_type = 'Root'
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(touched, recipient_account_id) AS resource,
    event_id AS event_ids,
    COALESCE(event_name, 'A call') || ' (' || COALESCE(event_source, 'unknown service') || ')'
        || COALESCE(' on ' || touched, '')
        || CASE WHEN identity_type = 'Root' THEN ' by the root user'
                ELSE ' by ' || COALESCE(actor, 'a principal') || ', a session issued by the root user,' END
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE WHEN identity_session_mfa_authenticated THEN ' with MFA'
                WHEN NOT identity_session_mfa_authenticated THEN ' without MFA'
                ELSE '' END
        || COALESCE(', refused: ' || error_code, '') AS detail
FROM matched
ORDER BY event_time, resource, event_ids
