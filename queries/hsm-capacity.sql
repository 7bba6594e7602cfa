-- name: hsm-capacity
-- title: HSMs per cluster over time
-- description: The HSM count of each cluster after every successful CreateHsm and DeleteHsm (counted from the events seen), flagging clusters left with fewer than min_hsms.
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
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hsms_after,
        ROW_NUMBER() OVER (PARTITION BY cluster_id ORDER BY event_time DESC, event_id DESC) AS newest_first
    FROM changes
)
SELECT
    cluster_id,
    event_time,
    event_name,
    hsm_id,
    actor,
    hsms_after,
    hsms_after < {{min_hsms}} AS below_minimum,
    newest_first = 1 AS current_count
FROM running
ORDER BY cluster_id, event_time
