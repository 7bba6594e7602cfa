-- name: compliance
-- title: Cluster mode, HSM type and backup retention over time
-- description: Per cluster, its mode (FIPS or NON_FIPS) and HSM type when first known and each time they change, its backup retention at creation and at every ModifyCluster that sets it (previous and new value, by whom), and backups set to never expire or set back (ModifyBackupAttributes).
WITH cluster_facts AS (
    -- What a successful CloudHSM call says the cluster is: its response, else what it asked for.
    SELECT
        cluster_id,
        event_time,
        event_id,
        event_name,
        actor,
        COALESCE(response_cluster_mode, request_mode) AS mode,
        COALESCE(response_cluster_hsm_type, request_hsm_type) AS hsm_type,
        COALESCE(response_cluster_backup_retention_value, request_backup_retention_value) AS retention_days,
        event_name = 'CreateCluster'
            OR (event_name = 'ModifyCluster' AND request_backup_retention_value IS NOT NULL) AS sets_retention
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
),
mode_and_type AS (
    SELECT cluster_id, event_time, event_id, event_name, actor, 'mode' AS setting, mode AS value
    FROM cluster_facts
    WHERE mode IS NOT NULL
    UNION ALL
    SELECT cluster_id, event_time, event_id, event_name, actor, 'hsm type' AS setting, hsm_type AS value
    FROM cluster_facts
    WHERE hsm_type IS NOT NULL
),
mode_and_type_seen AS (
    SELECT
        *,
        LAG(value) OVER (PARTITION BY cluster_id, setting ORDER BY event_time, event_id) AS previous_value
    FROM mode_and_type
),
retention_seen AS (
    SELECT
        *,
        LAG(retention_days) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS previous_days
    FROM cluster_facts
    WHERE retention_days IS NOT NULL
),
never_expires_facts AS (
    SELECT
        cluster_id,
        backup_id,
        event_time,
        event_id,
        event_name,
        actor,
        CASE COALESCE(response_backup_never_expires, request_never_expires)
            WHEN TRUE THEN 'true' WHEN FALSE THEN 'false' END AS value
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND error_code IS NULL
      AND backup_id IS NOT NULL
      AND COALESCE(response_backup_never_expires, request_never_expires) IS NOT NULL
),
never_expires_seen AS (
    SELECT
        *,
        LAG(value) OVER (PARTITION BY backup_id ORDER BY event_time, event_id) AS previous_value
    FROM never_expires_facts
),
findings AS (
    SELECT
        1 AS topic_order,
        'cluster mode and type' AS topic,
        event_time,
        cluster_id,
        CAST(NULL AS VARCHAR) AS backup_id,
        setting,
        previous_value,
        value AS new_value,
        CASE WHEN previous_value IS NULL THEN 'first seen' ELSE 'changed' END AS change,
        actor,
        event_name,
        event_id
    FROM mode_and_type_seen
    WHERE previous_value IS NULL OR previous_value <> value
    UNION ALL
    SELECT
        2 AS topic_order,
        'backup retention' AS topic,
        event_time,
        cluster_id,
        CAST(NULL AS VARCHAR) AS backup_id,
        'retention days' AS setting,
        previous_days AS previous_value,
        retention_days AS new_value,
        CASE
            WHEN previous_days IS NULL THEN 'set'
            WHEN TRY_CAST(retention_days AS BIGINT) < TRY_CAST(previous_days AS BIGINT) THEN 'shortened'
            WHEN TRY_CAST(retention_days AS BIGINT) > TRY_CAST(previous_days AS BIGINT) THEN 'extended'
            WHEN retention_days = previous_days THEN 'unchanged'
            ELSE 'changed'
        END AS change,
        actor,
        event_name,
        event_id
    FROM retention_seen
    WHERE sets_retention
    UNION ALL
    SELECT
        3 AS topic_order,
        'backup never expires' AS topic,
        event_time,
        cluster_id,
        backup_id,
        'never expires' AS setting,
        previous_value,
        value AS new_value,
        CASE
            WHEN previous_value = value THEN 'unchanged'
            WHEN value = 'true' THEN 'exempt from retention'
            ELSE 'retention applies again'
        END AS change,
        actor,
        event_name,
        event_id
    FROM never_expires_seen
    WHERE event_name = 'ModifyBackupAttributes'
)
SELECT
    topic,
    event_time,
    cluster_id,
    backup_id,
    setting,
    previous_value,
    new_value,
    change,
    actor,
    event_name
FROM findings
ORDER BY topic_order, cluster_id NULLS LAST, backup_id NULLS LAST, event_time, setting, event_id
