-- name: backup-deleted-by-person
-- title: A CloudHSM backup was deleted by a person
-- severity: high
-- type: Effects/Data Destruction
-- mitre: T1485, T1490
-- why: A backup is the only way back to a cluster's keys after the cluster is lost; one deleted by hand rather than by the retention policy is purged for good 7 days later unless someone restores it.
-- action: Confirm the deletion was intended; if not, run RestoreBackup on it within 7 days of the deletion, and review what else the principal did.
WITH deletions AS (
    SELECT
        event_time,
        event_id,
        recipient_account_id,
        aws_region,
        actor,
        backup_id,
        cluster_id,
        source_ip_address
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'DeleteBackup'
      AND event_type = 'AwsApiCall'
      AND COALESCE(identity_type, '') <> 'AWSService'
      AND error_code IS NULL
),
restores AS (
    SELECT
        d.event_id,
        MIN(r.event_time) AS restored_at
    FROM deletions d
    JOIN events r
      ON r.backup_id = d.backup_id
     AND r.event_time > d.event_time
    WHERE r.event_source = 'cloudhsm.amazonaws.com'
      AND r.event_name = 'RestoreBackup'
      AND r.error_code IS NULL
    GROUP BY d.event_id
),
judged AS (
    SELECT
        d.*,
        CAST(floor(date_part('epoch', r.restored_at) - date_part('epoch', d.event_time)) AS BIGINT) AS restored_after_s
    FROM deletions d
    LEFT JOIN restores r ON r.event_id = d.event_id
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(backup_id, 'unknown backup') AS resource,
    event_id AS event_ids,
    'DeleteBackup of ' || COALESCE(backup_id, 'an unnamed backup')
        || COALESCE(' (cluster ' || cluster_id || ')', '')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE
               WHEN restored_after_s IS NULL
                   THEN '; no later RestoreBackup of it seen (it is purged 7 days after the deletion)'
               WHEN restored_after_s < 7200
                   THEN '; restored by RestoreBackup ' || CAST(CAST(floor(restored_after_s / 60.0) AS BIGINT) AS VARCHAR) || ' min later'
               WHEN restored_after_s < 172800
                   THEN '; restored by RestoreBackup ' || CAST(CAST(floor(restored_after_s / 3600.0) AS BIGINT) AS VARCHAR) || ' h later'
               ELSE '; restored by RestoreBackup ' || CAST(CAST(floor(restored_after_s / 86400.0) AS BIGINT) AS VARCHAR) || ' days later'
           END AS detail
FROM judged
ORDER BY event_time, resource, event_ids
