-- name: backup-sharing
-- title: Backup sharing and copies
-- description: Backups shared with other accounts and unshared, by a CloudHSM resource policy (PutResourcePolicy, DeleteResourcePolicy) or an AWS RAM share (CreateResourceShare, AssociateResourceShare, DisassociateResourceShare), with whom, and CopyBackupToRegion (where backups went).
SELECT
    event_time,
    CASE
        WHEN event_name IN ('PutResourcePolicy', 'CreateResourceShare', 'AssociateResourceShare') THEN 'shared'
        WHEN event_name IN ('DeleteResourcePolicy', 'DisassociateResourceShare') THEN 'unshared'
        ELSE 'copied'
    END AS action,
    CASE
        WHEN cloudhsm_relation = 'ram-backup-share' THEN 'ram'
        WHEN event_name = 'CopyBackupToRegion' THEN 'copy'
        ELSE 'cloudhsm policy'
    END AS via,
    event_name,
    actor,
    aws_region AS source_region,
    request_destination_region AS destination_region,
    backup_id,
    NULLIF(array_to_string(request_shared_with, ','), '') AS shared_with,
    request_resource_arn AS resource_arn,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE (event_source = 'cloudhsm.amazonaws.com'
       AND event_name IN ('PutResourcePolicy', 'DeleteResourcePolicy', 'CopyBackupToRegion'))
   OR (cloudhsm_relation = 'ram-backup-share'
       AND event_name IN ('CreateResourceShare', 'AssociateResourceShare', 'DisassociateResourceShare'))
ORDER BY event_time, event_id
