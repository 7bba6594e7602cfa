-- name: audit-log-group-tampering
-- title: An HSM audit log group was deleted or changed
-- severity: high
-- type: TTPs/Defense Evasion
-- mitre: T1562.008, T1070
-- why: The CloudWatch Logs group /aws/cloudhsm/<cluster> holds the HSMs' own audit log (logins, user and key management inside the HSMs), which CloudTrail does not see; deleting it, shortening its retention or redirecting or re-encrypting it destroys or hides that record.
-- action: Check the log group's settings and retention now and restore them; find out why the principal changed it, and keep an independent copy of the audit log (a subscription to another account) if it matters.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(request_log_group_name, cluster_id, 'unknown log group') AS resource,
    event_id AS event_ids,
    COALESCE(event_name, 'A call') || ' on log group ' || COALESCE(request_log_group_name, '(unnamed)')
        || COALESCE(' (the HSM audit log of ' || cluster_id || ')', '')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address') AS detail
FROM events
WHERE cloudhsm_relation = 'audit-log-group'
  AND error_code IS NULL
ORDER BY event_time, resource, event_ids
