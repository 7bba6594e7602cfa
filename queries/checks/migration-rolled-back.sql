-- name: migration-rolled-back
-- title: A cluster's HSM type migration was rolled back
-- severity: medium
-- type: Software and Configuration Checks/AWS Security Best Practices
-- mitre: -
-- why: Rolling a cluster back to its earlier HSM type (hsm2m.medium back to hsm1.medium) puts it on the older hardware again, usually because something broke after the migration, and it may be a way to return to a type with weaker properties than the one approved.
-- action: Find out why the migration was rolled back, check that applications and keys still work on the cluster, and plan the migration again (or record why the cluster stays on the older type).
WITH type_seen AS (
    -- When a cluster was seen with which HSM type.
    SELECT
        cluster_id,
        event_time,
        COALESCE(request_hsm_type, response_cluster_hsm_type, response_hsm_type) AS hsm_type
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
      AND COALESCE(request_hsm_type, response_cluster_hsm_type, response_hsm_type) IS NOT NULL
),
modifies AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        event_name,
        recipient_account_id,
        aws_region,
        actor,
        request_hsm_type
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'ModifyCluster'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
      AND request_hsm_type IS NOT NULL
),
type_history AS (
    -- For each ModifyCluster: when its type was last seen before it, and when another type was.
    SELECT
        m.event_id,
        MAX(CASE WHEN t.hsm_type = m.request_hsm_type THEN t.event_time END) AS same_type_seen,
        MAX(CASE WHEN t.hsm_type <> m.request_hsm_type THEN t.event_time END) AS other_type_seen
    FROM modifies m
    JOIN type_seen t ON t.cluster_id = m.cluster_id AND t.event_time < m.event_time
    GROUP BY m.event_id
),
starts AS (
    -- What each ModifyCluster set going: the next MigrationStart or RollbackStart of its cluster.
    SELECT
        event_id,
        event_name,
        LEAD(event_name) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS next_start
    FROM (
        SELECT cluster_id, event_time, event_id, event_name FROM modifies
        UNION ALL
        SELECT cluster_id, event_time, event_id, event_name
        FROM events
        WHERE event_source = 'cloudhsm.amazonaws.com'
          AND event_name IN ('MigrationStart', 'RollbackStart')
          AND cluster_id IS NOT NULL
    ) s
),
marks AS (
    -- The ModifyClusters that started a rollback: the service's next event for the cluster is
    -- RollbackStart; where neither start event follows, one back to a type the cluster had
    -- before another (AWS migrates hsm1.medium to hsm2m.medium only, so a change to
    -- hsm1.medium is a rollback). And the rollback service events.
    SELECT m.cluster_id, m.event_time, m.event_id, m.event_name, m.recipient_account_id,
           m.aws_region, m.actor, m.request_hsm_type
    FROM modifies m
    LEFT JOIN type_history h ON h.event_id = m.event_id
    LEFT JOIN starts s ON s.event_id = m.event_id AND s.event_name = 'ModifyCluster'
    WHERE s.next_start = 'RollbackStart'
       OR (COALESCE(s.next_start, 'ModifyCluster') = 'ModifyCluster'
           AND (h.other_type_seen > h.same_type_seen OR m.request_hsm_type = 'hsm1.medium'))
    UNION ALL
    SELECT cluster_id, event_time, event_id, event_name, recipient_account_id, aws_region, actor,
           CAST(NULL AS VARCHAR) AS request_hsm_type
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name IN ('RollbackStart', 'RollbackEnd')
      AND cluster_id IS NOT NULL
),
chained AS (
    SELECT
        marks.*,
        LAG(event_name) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id) AS previous
    FROM marks
),
numbered AS (
    -- A rollback is a ModifyCluster, RollbackStart and RollbackEnd in that order, any of them
    -- missing; a new one begins after a RollbackEnd or when the order starts over.
    SELECT
        chained.*,
        SUM(CASE WHEN previous IS NULL
                   OR previous = 'RollbackEnd'
                   OR (previous = 'RollbackStart' AND event_name <> 'RollbackEnd')
                   OR (previous = 'ModifyCluster' AND event_name = 'ModifyCluster')
                 THEN 1 ELSE 0 END)
            OVER (PARTITION BY cluster_id ORDER BY event_time, event_id
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rollback_no
    FROM chained
),
rollbacks AS (
    SELECT
        cluster_id,
        rollback_no,
        MAX(event_time) AS event_time,
        MAX(recipient_account_id) AS recipient_account_id,
        MAX(aws_region) AS aws_region,
        MAX(CASE WHEN event_name = 'ModifyCluster' THEN actor END) AS modified_by,
        MAX(actor) AS any_actor,
        MAX(request_hsm_type) AS hsm_type,
        MIN(CASE WHEN event_name = 'ModifyCluster' THEN event_time END) AS modified_at,
        MIN(CASE WHEN event_name = 'RollbackStart' THEN event_time END) AS started_at,
        MIN(CASE WHEN event_name = 'RollbackEnd' THEN event_time END) AS ended_at,
        string_agg(event_id, ',' ORDER BY event_id) AS event_ids
    FROM numbered
    GROUP BY cluster_id, rollback_no
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    COALESCE(modified_by, any_actor) AS principal,
    cluster_id AS resource,
    event_ids,
    'HSM type of cluster ' || cluster_id || ' rolled back' || COALESCE(' to ' || hsm_type, '') || ':'
        || COALESCE(' ModifyCluster by ' || modified_by || ' at '
                    || substr(replace(CAST(CAST(modified_at AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19) || ' UTC;', '')
        || COALESCE(' RollbackStart at '
                    || substr(replace(CAST(CAST(started_at AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19) || ' UTC;', '')
        || COALESCE(' RollbackEnd at '
                    || substr(replace(CAST(CAST(ended_at AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19) || ' UTC',
                    ' no RollbackEnd seen') AS detail
FROM rollbacks
ORDER BY event_time, resource, event_ids
