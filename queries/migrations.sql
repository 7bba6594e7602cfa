-- name: migrations
-- title: HSM type migrations and rollbacks
-- description: MigrationStart/MigrationEnd and RollbackStart/RollbackEnd service events paired per cluster, with durations, each with the ModifyCluster that asked for it (who, from which HSM type to which, the rollback deadline); a start without an end is still running (or its end is outside the data), unless AWS rolled it back, and a ModifyCluster changing the HSM type without service events is shown too.
WITH marks AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        CASE WHEN event_name LIKE 'Migration%' THEN 'migration' ELSE 'rollback' END AS kind,
        CASE WHEN event_name LIKE '%Start' THEN 'start' ELSE 'end' END AS mark
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name IN ('MigrationStart', 'MigrationEnd', 'RollbackStart', 'RollbackEnd')
      AND cluster_id IS NOT NULL
),
neighbours AS (
    SELECT
        cluster_id,
        kind,
        mark,
        event_time,
        event_id,
        LEAD(mark) OVER (PARTITION BY cluster_id, kind ORDER BY event_time, event_id) AS next_mark,
        LEAD(event_time) OVER (PARTITION BY cluster_id, kind ORDER BY event_time, event_id) AS next_time,
        LAG(mark) OVER (PARTITION BY cluster_id, kind ORDER BY event_time, event_id) AS previous_mark
    FROM marks
),
-- AWS rolls a failed migration back: a RollbackStart before the MigrationEnd ends the migration.
rolled_back AS (
    SELECT
        n.event_id,
        MIN(b.event_time) AS rollback_started
    FROM neighbours n
    JOIN marks b
      ON b.cluster_id = n.cluster_id
     AND b.kind = 'rollback'
     AND b.mark = 'start'
     AND b.event_time > n.event_time
     AND (n.next_time IS NULL OR b.event_time < n.next_time)
    WHERE n.kind = 'migration'
      AND n.mark = 'start'
      AND (n.next_mark IS NULL OR n.next_mark <> 'end')
    GROUP BY n.event_id
),
-- One row per migration or rollback: a start with its end, a start alone, or an end alone.
runs AS (
    SELECT
        n.cluster_id,
        n.kind,
        n.event_id AS run_id,
        CASE WHEN n.mark = 'start' THEN n.event_time END AS started,
        CASE WHEN n.mark = 'start' AND n.next_mark = 'end' THEN n.next_time
             WHEN n.mark = 'start' THEN b.rollback_started
             ELSE n.event_time END AS ended,
        CASE WHEN n.mark = 'start' AND n.next_mark = 'end'
             THEN CAST(date_part('epoch', n.next_time) - date_part('epoch', n.event_time) AS BIGINT)
             WHEN n.mark = 'start'
             THEN CAST(date_part('epoch', b.rollback_started) - date_part('epoch', n.event_time) AS BIGINT)
             END AS duration_seconds,
        CASE WHEN n.mark = 'start' AND n.next_mark = 'end' THEN 'completed'
             WHEN n.mark = 'start' AND b.rollback_started IS NOT NULL THEN 'rolled back'
             WHEN n.mark = 'start' THEN 'no end seen'
             ELSE 'no start seen' END AS status,
        n.event_time AS began
    FROM neighbours n
    LEFT JOIN rolled_back b ON b.event_id = n.event_id
    WHERE n.mark = 'start' OR n.previous_mark IS NULL OR n.previous_mark = 'end'
),
type_requests AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        actor,
        request_hsm_type AS to_type,
        response_cluster_hsm_type_rollback_expiration AS rollback_deadline
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'ModifyCluster'
      AND error_code IS NULL
      AND request_hsm_type IS NOT NULL
      AND cluster_id IS NOT NULL
),
-- The ModifyCluster that started a run: the cluster's latest one at or before the run began,
-- unless an earlier run already followed it (a rollback AWS started by itself asked nothing).
latest_request AS (
    SELECT
        r.run_id,
        r.began,
        q.event_id AS request_id,
        ROW_NUMBER() OVER (PARTITION BY r.run_id ORDER BY q.event_time DESC, q.event_id DESC) AS newest_first
    FROM runs r
    JOIN type_requests q ON q.cluster_id = r.cluster_id AND q.event_time <= r.began
),
claims AS (
    SELECT run_id, request_id
    FROM (
        SELECT
            run_id,
            request_id,
            ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY began, run_id) AS first_run
        FROM latest_request
        WHERE newest_first = 1
    ) followed
    WHERE first_run = 1
),
episodes AS (
    SELECT
        r.cluster_id,
        r.kind,
        q.event_time AS requested_at,
        q.actor AS requested_by,
        q.to_type,
        q.rollback_deadline AS requested_deadline,
        r.started,
        r.ended,
        r.duration_seconds,
        r.status,
        COALESCE(q.event_time, r.began) AS anchor,
        r.run_id AS episode_id
    FROM runs r
    LEFT JOIN claims c ON c.run_id = r.run_id
    LEFT JOIN type_requests q ON q.event_id = c.request_id
    UNION ALL
    SELECT
        q.cluster_id,
        CAST(NULL AS VARCHAR) AS kind,
        q.event_time AS requested_at,
        q.actor AS requested_by,
        q.to_type,
        q.rollback_deadline AS requested_deadline,
        CAST(NULL AS TIMESTAMP) AS started,
        CAST(NULL AS TIMESTAMP) AS ended,
        CAST(NULL AS BIGINT) AS duration_seconds,
        'no service events seen' AS status,
        q.event_time AS anchor,
        q.event_id AS episode_id
    FROM type_requests q
    LEFT JOIN claims c ON c.request_id = q.event_id
    WHERE c.request_id IS NULL
),
-- The HSM type each successful CloudHSM call says the cluster has (or asks it to have).
known_types AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        COALESCE(response_cluster_hsm_type, request_hsm_type) AS hsm_type
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
      AND COALESCE(response_cluster_hsm_type, request_hsm_type) IS NOT NULL
),
type_before AS (
    SELECT
        e.episode_id,
        k.hsm_type,
        ROW_NUMBER() OVER (PARTITION BY e.episode_id ORDER BY k.event_time DESC, k.event_id DESC) AS newest_first
    FROM episodes e
    JOIN known_types k ON k.cluster_id = e.cluster_id AND k.event_time < e.anchor
),
with_types AS (
    SELECT
        e.*,
        t.hsm_type AS from_type,
        LAG(t.hsm_type) OVER (PARTITION BY e.cluster_id ORDER BY e.anchor, e.episode_id) AS previous_from_type,
        LEAD(e.anchor) OVER (PARTITION BY e.cluster_id ORDER BY e.anchor, e.episode_id) AS next_anchor
    FROM episodes e
    LEFT JOIN type_before t ON t.episode_id = e.episode_id AND t.newest_first = 1
),
-- A deadline the ModifyCluster did not return: the latest one a later response reported for
-- the cluster before its next migration or rollback.
reported_deadlines AS (
    SELECT
        w.episode_id,
        d.response_cluster_hsm_type_rollback_expiration AS deadline,
        ROW_NUMBER() OVER (PARTITION BY w.episode_id ORDER BY d.event_time DESC, d.event_id DESC) AS newest_first
    FROM with_types w
    JOIN events d
      ON d.cluster_id = w.cluster_id
     AND d.event_time >= w.anchor
     AND (w.next_anchor IS NULL OR d.event_time < w.next_anchor)
    WHERE d.event_source = 'cloudhsm.amazonaws.com'
      AND d.response_cluster_hsm_type_rollback_expiration IS NOT NULL
)
SELECT
    w.cluster_id,
    -- A ModifyCluster without service events back to the type the cluster had before the
    -- previous change is a rollback.
    COALESCE(w.kind, CASE WHEN w.to_type = w.previous_from_type THEN 'rollback' ELSE 'migration' END) AS kind,
    w.requested_at,
    w.requested_by,
    w.from_type,
    w.to_type,
    w.started,
    w.ended,
    w.duration_seconds,
    w.status,
    COALESCE(w.requested_deadline, d.deadline) AS rollback_deadline
FROM with_types w
LEFT JOIN reported_deadlines d ON d.episode_id = w.episode_id AND d.newest_first = 1
ORDER BY w.cluster_id, w.anchor, w.episode_id
