-- name: backup-retention-shortened
-- title: A CloudHSM cluster's backup retention was shortened
-- severity: medium
-- type: Effects/Data Destruction
-- mitre: T1490
-- why: CloudHSM deletes a cluster's backups once they are older than its retention period, so shortening it quietly removes the older backups, and with them the ways back to earlier keys.
-- action: Check that the new retention period is approved (and long enough for recovery and compliance needs); if not, set it back with ModifyCluster and mark backups that must stay with ModifyBackupAttributes --never-expires.
WITH known AS (
    -- Each retention value known for a cluster, and when: what CreateCluster set, what a
    -- ModifyCluster asked for, what a response showed.
    SELECT
        cluster_id,
        event_time,
        event_id,
        event_name,
        recipient_account_id,
        aws_region,
        actor,
        source_ip_address,
        event_name = 'ModifyCluster' AND request_backup_retention_value IS NOT NULL AS sets_retention,
        TRY_CAST(CASE WHEN event_name IN ('CreateCluster', 'ModifyCluster')
                      THEN COALESCE(request_backup_retention_value, response_cluster_backup_retention_value)
                      ELSE response_cluster_backup_retention_value END AS BIGINT) AS days
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
      AND (request_backup_retention_value IS NOT NULL OR response_cluster_backup_retention_value IS NOT NULL)
    UNION ALL
    -- A describe-clusters baseline (--baseline) says what the retention was at its time.
    SELECT
        cluster_id,
        taken_at AS event_time,
        CAST(NULL AS VARCHAR) AS event_id,
        'describe-clusters baseline' AS event_name,
        CAST(NULL AS VARCHAR) AS recipient_account_id,
        CAST(NULL AS VARCHAR) AS aws_region,
        CAST(NULL AS VARCHAR) AS actor,
        CAST(NULL AS VARCHAR) AS source_ip_address,
        false AS sets_retention,
        TRY_CAST(backup_retention_days AS BIGINT) AS days
    FROM baseline_clusters
    WHERE cluster_id IS NOT NULL AND backup_retention_days IS NOT NULL
),
sequenced AS (
    SELECT
        known.*,
        LAG(days) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS days_before,
        LAG(event_name) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS known_from
    FROM known
    WHERE days IS NOT NULL
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    cluster_id AS resource,
    event_id AS event_ids,
    'ModifyCluster by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || ' shortened the backup retention of ' || cluster_id
        || ' from ' || CAST(days_before AS VARCHAR) || ' days (as of its ' || known_from || ')'
        || ' to ' || CAST(days AS VARCHAR) || ' days' AS detail
FROM sequenced
WHERE sets_retention
  AND days < days_before
ORDER BY event_time, resource, event_ids
