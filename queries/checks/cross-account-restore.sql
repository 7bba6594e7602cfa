-- name: cross-account-restore
-- title: A CloudHSM cluster was restored from another account's backup
-- severity: medium
-- type: Effects/Data Exfiltration
-- mitre: T1537
-- why: A cluster made from a backup of another account holds that account's keys, so key material has moved between accounts; it is expected only for a planned migration or disaster-recovery test.
-- action: Confirm the restore was approved by the owners of both accounts; if not, delete the new cluster, remove the backup's sharing in the source account and review who holds the crypto users' credentials.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(cluster_id, request_source_backup_id, 'unknown cluster') AS resource,
    event_id AS event_ids,
    'CreateCluster of ' || COALESCE(cluster_id, 'an unnamed cluster')
        || ' from backup ' || COALESCE(request_source_backup_id, '(unnamed)')
        || ' of account ' || request_source_backup_account
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address') AS detail
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name = 'CreateCluster'
  AND error_code IS NULL
  AND request_source_backup_account IS NOT NULL
  AND request_source_backup_account <> COALESCE(recipient_account_id, identity_account_id, '')
ORDER BY event_time, resource, event_ids
