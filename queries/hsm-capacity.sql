-- name: hsm-capacity
-- title: HSMs per cluster over time
-- description: The HSM count of each cluster after every successful CreateHsm and DeleteHsm, flagging clusters left with fewer than min_hsms. Counts start from a --baseline (describe-clusters) when given, from zero for a cluster created in the data, and otherwise (or when the events contradict either) from the fewest HSMs the events allow, which counted_from calls "at least": never negative.
-- param: min_hsms integer 2 The HSM count below which a cluster is flagged (AWS recommends at least 2, in different Availability Zones)
WITH changes AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        event_name,
        hsm_id,
        actor,
        CASE WHEN event_name = 'CreateHsm' THEN 1 ELSE -1 END AS delta
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name IN ('CreateHsm', 'DeleteHsm')
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
),
running AS (
    SELECT
        cluster_id,
        event_time,
        event_name,
        hsm_id,
        actor,
        SUM(delta) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS change_so_far,
        ROW_NUMBER() OVER (PARTITION BY cluster_id ORDER BY event_time DESC, event_id DESC) AS newest_first
    FROM changes
),
created AS (
    SELECT DISTINCT cluster_id
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'CreateCluster'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
),
-- The newest description of each cluster, less the changes seen up to it: the count before
-- the first change in the data.
described AS (
    SELECT cluster_id, hsms, taken_at
    FROM (
        SELECT cluster_id, hsms, taken_at,
               ROW_NUMBER() OVER (PARTITION BY cluster_id ORDER BY taken_at DESC) AS newest
        FROM baseline_clusters
        WHERE hsms IS NOT NULL
    ) b
    WHERE newest = 1
),
from_baseline AS (
    SELECT d.cluster_id, d.hsms - COALESCE(SUM(c.delta), 0) AS start_count
    FROM described d
    LEFT JOIN changes c ON c.cluster_id = d.cluster_id AND c.event_time <= d.taken_at
    GROUP BY d.cluster_id, d.hsms
),
-- Each cluster's count before its first change: the baseline's, or zero for a cluster created
-- in the data, raised (for either, or with neither) to the fewest HSMs the events allow, so
-- that no count is negative; counted_from says which.
starts AS (
    SELECT
        r.cluster_id,
        MAX(b.start_count) AS described,
        MAX(c.cluster_id) AS created,
        GREATEST(0, -MIN(r.change_so_far)) AS fewest
    FROM running r
    LEFT JOIN from_baseline b ON b.cluster_id = r.cluster_id
    LEFT JOIN created c ON c.cluster_id = r.cluster_id
    GROUP BY r.cluster_id
),
based AS (
    SELECT
        cluster_id,
        GREATEST(COALESCE(described, 0), fewest) AS start_count,
        CASE
            WHEN described IS NOT NULL AND described >= fewest THEN 'baseline'
            WHEN described IS NULL AND created IS NOT NULL AND fewest = 0 THEN 'cluster created in the data'
            ELSE 'at least (counted from the first event seen)'
        END AS counted_from
    FROM starts
)
SELECT
    r.cluster_id,
    r.event_time,
    r.event_name,
    r.hsm_id,
    r.actor,
    s.start_count + r.change_so_far AS hsms_after,
    s.counted_from,
    s.start_count + r.change_so_far < {{min_hsms}} AS below_minimum,
    r.newest_first = 1 AS current_count
FROM running r
JOIN based s ON s.cluster_id = r.cluster_id
ORDER BY r.cluster_id, r.event_time
