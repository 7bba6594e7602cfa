-- name: backup-sharing
-- title: Backup sharing and copies
-- description: PutResourcePolicy and DeleteResourcePolicy (backups shared with other accounts, and unshared) and CopyBackupToRegion (where backups went).
SELECT
    event_time,
    CASE event_name
        WHEN 'PutResourcePolicy' THEN 'shared'
        WHEN 'DeleteResourcePolicy' THEN 'unshared'
        ELSE 'copied'
    END AS action,
    event_name,
    actor,
    aws_region AS source_region,
    request_destination_region AS destination_region,
    backup_id,
    request_resource_arn AS resource_arn,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name IN ('PutResourcePolicy', 'DeleteResourcePolicy', 'CopyBackupToRegion')
ORDER BY event_time
