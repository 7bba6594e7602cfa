-- name: migrations
-- title: HSM type migrations and rollbacks
-- description: MigrationStart/MigrationEnd and RollbackStart/RollbackEnd service events paired per cluster, with durations; a start without an end is still running (or its end is outside the data).
WITH marks AS (
    SELECT
        cluster_id,
        event_time,
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
        LEAD(mark) OVER (PARTITION BY cluster_id, kind ORDER BY event_time) AS next_mark,
        LEAD(event_time) OVER (PARTITION BY cluster_id, kind ORDER BY event_time) AS next_time,
        LAG(mark) OVER (PARTITION BY cluster_id, kind ORDER BY event_time) AS previous_mark
    FROM marks
)
SELECT
    cluster_id,
    kind,
    CASE WHEN mark = 'start' THEN event_time END AS started,
    CASE WHEN mark = 'start' AND next_mark = 'end' THEN next_time
         WHEN mark = 'end' THEN event_time END AS ended,
    CASE WHEN mark = 'start' AND next_mark = 'end'
         THEN CAST(date_part('epoch', next_time) - date_part('epoch', event_time) AS BIGINT)
         END AS duration_seconds,
    CASE WHEN mark = 'start' AND next_mark = 'end' THEN 'completed'
         WHEN mark = 'start' THEN 'no end seen'
         ELSE 'no start seen' END AS status
FROM neighbours
WHERE mark = 'start' OR previous_mark IS NULL OR previous_mark = 'end'
ORDER BY cluster_id, COALESCE(CASE WHEN mark = 'start' THEN event_time END, event_time)
