-- name: migration-unfinished
-- title: A cluster's HSM type migration has not finished
-- severity: low
-- type: Software and Configuration Checks/AWS Security Best Practices
-- mitre: -
-- why: A cluster whose migration (or rollback) to another HSM type started but has not ended is in a transitional state that may be stuck or failed, and the window for rolling a migration back closes on a deadline, after which the cluster cannot return to its old type.
-- action: Check the cluster's state (aws cloudhsmv2 describe-clusters); if the migration is stuck or failed, contact AWS Support, and decide before the rollback deadline whether to keep the new HSM type.
WITH timeline AS (
    -- The events that start a migration or a rollback, each with the service's next start.
    SELECT
        cluster_id,
        event_time,
        event_id,
        event_name,
        recipient_account_id,
        aws_region,
        actor,
        request_hsm_type,
        LEAD(event_name) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS next_start
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND cluster_id IS NOT NULL
      AND ((event_name = 'ModifyCluster' AND error_code IS NULL AND request_hsm_type IS NOT NULL)
           OR event_name IN ('MigrationStart', 'RollbackStart'))
),
starts AS (
    -- A ModifyCluster starts what the service starts next (a change to hsm1.medium, the type
    -- AWS migrates from, is a rollback when the service events are missing).
    SELECT
        timeline.*,
        CASE WHEN event_name = 'RollbackStart'
                  OR (event_name = 'ModifyCluster' AND next_start = 'RollbackStart')
                  OR (event_name = 'ModifyCluster' AND COALESCE(next_start, 'ModifyCluster') = 'ModifyCluster'
                      AND request_hsm_type = 'hsm1.medium')
             THEN 'rollback' ELSE 'migration' END AS kind
    FROM timeline
),
closers AS (
    -- A migration ends with MigrationEnd, or gives way to a rollback started after it; a
    -- rollback ends with RollbackEnd, or gives way to a migration the service started after it.
    SELECT cluster_id, event_time, 'migration' AS closes
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND cluster_id IS NOT NULL
      AND event_name = 'MigrationEnd'
    UNION ALL
    SELECT cluster_id, event_time, 'migration' AS closes FROM starts WHERE kind = 'rollback'
    UNION ALL
    SELECT cluster_id, event_time, 'rollback' AS closes
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND cluster_id IS NOT NULL
      AND event_name IN ('RollbackEnd', 'MigrationStart')
),
pending AS (
    SELECT s.*
    FROM starts s
    LEFT JOIN closers c
      ON c.cluster_id = s.cluster_id
     AND c.closes = s.kind
     AND c.event_time > s.event_time
    WHERE c.cluster_id IS NULL
),
latest_modify AS (
    SELECT cluster_id, actor, request_hsm_type
    FROM (
        SELECT
            cluster_id,
            actor,
            request_hsm_type,
            ROW_NUMBER() OVER (PARTITION BY cluster_id ORDER BY event_time DESC, event_id DESC) AS newest_first
        FROM pending
        WHERE event_name = 'ModifyCluster'
    ) m
    WHERE newest_first = 1
),
unfinished AS (
    SELECT
        p.cluster_id,
        MIN(p.event_time) AS first_start,
        MAX(p.event_time) AS event_time,
        MAX(p.recipient_account_id) AS recipient_account_id,
        MAX(p.aws_region) AS aws_region,
        MAX(m.actor) AS modified_by,
        MAX(p.actor) AS any_actor,
        MAX(m.request_hsm_type) AS hsm_type,
        MAX(CASE WHEN p.kind = 'rollback' THEN 1 ELSE 0 END) AS rolling_back,
        string_agg(p.event_id, ',' ORDER BY p.event_id) AS event_ids
    FROM pending p
    LEFT JOIN latest_modify m ON m.cluster_id = p.cluster_id
    GROUP BY p.cluster_id
),
deadlines AS (
    SELECT u.cluster_id, MAX(e.response_cluster_hsm_type_rollback_expiration) AS rollback_until
    FROM unfinished u
    JOIN events e ON e.cluster_id = u.cluster_id AND e.event_time >= u.first_start
    WHERE e.event_source = 'cloudhsm.amazonaws.com'
      AND e.response_cluster_hsm_type_rollback_expiration IS NOT NULL
    GROUP BY u.cluster_id
)
SELECT
    u.event_time,
    u.recipient_account_id AS account_id,
    u.aws_region AS region,
    COALESCE(u.modified_by, u.any_actor) AS principal,
    u.cluster_id AS resource,
    u.event_ids,
    CASE WHEN u.rolling_back = 1 THEN 'Rollback' ELSE 'Migration' END
        || ' of cluster ' || u.cluster_id || COALESCE(' to ' || u.hsm_type, '')
        || COALESCE(' (ModifyCluster by ' || u.modified_by || ')', '')
        || ' started ' || substr(replace(CAST(CAST(u.first_start AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
        || CASE WHEN u.rolling_back = 1 THEN ' UTC; no RollbackEnd seen after it'
                ELSE ' UTC; no MigrationEnd (nor a rollback) seen after it' END
        || CASE WHEN u.rolling_back = 1 THEN ''
                ELSE COALESCE('; it can be rolled back until '
                              || substr(replace(CAST(CAST(d.rollback_until AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19) || ' UTC',
                              '; rollback deadline unknown') END AS detail
FROM unfinished u
LEFT JOIN deadlines d ON d.cluster_id = u.cluster_id
ORDER BY event_time, resource, event_ids
