-- name: backup-deletions
-- title: Backup deletions
-- description: DeleteBackup calls and the service's own deletions (retention policy, BackupDeletedPermanently), and whether RestoreBackup saved the backup within restore_days.
-- param: restore_days integer 7 Days a deleted backup stays in PENDING_DELETION and can be restored
WITH deletions AS (
    SELECT
        event_time,
        event_id,
        event_name,
        CASE WHEN event_type = 'AwsServiceEvent' THEN 'service' ELSE 'api call' END AS initiated_by,
        actor,
        backup_id,
        cluster_id,
        COALESCE(error_code, 'OK') AS result
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name IN ('DeleteBackup', 'BackupDeletedPermanently')
),
restores AS (
    SELECT backup_id, event_time
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'RestoreBackup'
      AND error_code IS NULL
)
SELECT
    d.event_time,
    d.event_name,
    d.initiated_by,
    d.actor,
    d.backup_id,
    d.cluster_id,
    d.result,
    MIN(r.event_time) AS restored_at,
    CASE
        WHEN d.event_name = 'BackupDeletedPermanently' THEN 'purged'
        WHEN d.result <> 'OK' THEN 'not deleted'
        WHEN MIN(r.event_time) IS NOT NULL THEN 'restored'
        ELSE 'not restored'
    END AS outcome
FROM deletions d
LEFT JOIN restores r
    ON r.backup_id = d.backup_id
   AND r.event_time > d.event_time
   AND r.event_time <= d.event_time + INTERVAL '{{restore_days}} days'
GROUP BY d.event_time, d.event_id, d.event_name, d.initiated_by, d.actor, d.backup_id, d.cluster_id, d.result
ORDER BY d.event_time
