-- name: root-activity
-- title: Root activity
-- description: Anything done with the account's root credentials (or a session issued by root).
SELECT
    event_time,
    recipient_account_id,
    event_source,
    event_name,
    source_ip_address,
    user_agent,
    identity_session_mfa_authenticated AS mfa,
    cluster_id,
    hsm_id,
    backup_id,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE identity_type = 'Root' OR identity_session_issuer_type = 'Root'
ORDER BY event_time
