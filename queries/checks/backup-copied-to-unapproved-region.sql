-- name: backup-copied-to-unapproved-region
-- title: A CloudHSM backup was copied to a region not approved for it
-- severity: medium
-- type: Software and Configuration Checks/Industry and Regulatory Standards
-- mitre: -
-- why: A backup copied to another region can be restored into a cluster there, so key material leaves the regions the organisation (or its regulators) approved for it, and a copy nobody expects is also a way to keep keys out of sight.
-- action: Check with the principal why the backup was copied; if the region is not approved, delete the copy there (DeleteBackup in that region) and look for clusters restored from it.
-- param: allowed_regions list [] Regions backups may be copied to (--allowed-region); when empty, the regions where the data shows CloudHSM clusters before the copy
WITH cluster_regions AS (
    -- Where, and since when, the data shows a cluster: a successful call on one. A restore
    -- into a new cluster after the copy does not make the copy's region approved.
    SELECT aws_region AS region, MIN(event_time) AS since
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND cluster_id IS NOT NULL
      AND aws_region IS NOT NULL
      AND error_code IS NULL
      AND event_name <> 'CopyBackupToRegion'
      AND (backup_id IS NULL OR event_name = 'CreateCluster')
    GROUP BY aws_region
),
copies AS (
    SELECT
        c.event_time,
        c.event_id,
        c.recipient_account_id,
        c.aws_region,
        c.actor,
        c.backup_id,
        c.request_destination_region
    FROM events c
    LEFT JOIN cluster_regions r
      ON r.region = c.request_destination_region AND r.since < c.event_time
    WHERE c.event_source = 'cloudhsm.amazonaws.com'
      AND c.event_name = 'CopyBackupToRegion'
      AND c.error_code IS NULL
      AND c.request_destination_region IS NOT NULL
      AND (({{allowed_regions}} <> ',' AND strpos({{allowed_regions}}, ',' || c.request_destination_region || ',') = 0)
           OR ({{allowed_regions}} = ',' AND r.region IS NULL))
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(backup_id, 'unknown backup') AS resource,
    event_id AS event_ids,
    'CopyBackupToRegion of backup ' || COALESCE(backup_id, '(unnamed)')
        || ' from ' || COALESCE(aws_region, 'an unknown region')
        || ' to ' || request_destination_region
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || CASE WHEN {{allowed_regions}} = ','
                THEN ', a region where the data shows no CloudHSM cluster before it'
                ELSE ', outside the allowed regions ' || replace(substr({{allowed_regions}}, 2, length({{allowed_regions}}) - 2), ',', ', ') END
        AS detail
FROM copies
ORDER BY event_time, resource, event_ids
