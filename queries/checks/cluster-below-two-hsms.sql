-- name: cluster-below-two-hsms
-- title: A CloudHSM cluster was left with fewer HSMs than the minimum
-- severity: medium
-- type: Software and Configuration Checks/AWS Security Best Practices
-- mitre: -
-- why: A cluster with a single HSM has no redundancy: if that HSM or its Availability Zone fails, every application using the cluster stops and keys made since the last backup are lost (AWS advises at least two HSMs in different zones); a cluster is judged only when its HSM count is known, from its CreateCluster in the data or a describe-clusters baseline, and not when it is deleted afterwards (cluster-deleted reports that).
-- action: Add HSMs (CreateHsm, in another Availability Zone) until the cluster has the minimum again, and find out why the HSM was deleted.
-- param: min_hsms integer 2 The HSM count below which a cluster is flagged
WITH changes AS (
    SELECT
        cluster_id,
        event_time,
        event_id,
        recipient_account_id,
        aws_region,
        actor,
        event_name,
        hsm_id,
        CASE WHEN event_name = 'CreateHsm' THEN 1 ELSE -1 END AS delta
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name IN ('CreateHsm', 'DeleteHsm')
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
),
running AS (
    SELECT
        changes.*,
        SUM(delta) OVER (PARTITION BY cluster_id ORDER BY event_time, event_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS net_after
    FROM changes
),
created AS (
    SELECT cluster_id, MIN(event_time) AS created_at
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'CreateCluster'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
    GROUP BY cluster_id
),
deleted AS (
    SELECT cluster_id, MAX(event_time) AS deleted_at
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'DeleteCluster'
      AND error_code IS NULL
      AND cluster_id IS NOT NULL
    GROUP BY cluster_id
),
newest_baseline AS (
    SELECT cluster_id, hsms, taken_at
    FROM (
        SELECT
            cluster_id,
            hsms,
            taken_at,
            ROW_NUMBER() OVER (PARTITION BY cluster_id ORDER BY taken_at DESC) AS newest_first
        FROM baseline_clusters
        WHERE cluster_id IS NOT NULL AND hsms IS NOT NULL AND taken_at IS NOT NULL
    ) b
    WHERE newest_first = 1
),
baseline AS (
    -- The HSMs at taken_at, and the net change of the events up to then.
    SELECT
        b.cluster_id,
        b.hsms,
        b.taken_at,
        COALESCE(SUM(c.delta), 0) AS net_at_baseline
    FROM newest_baseline b
    LEFT JOIN changes c ON c.cluster_id = b.cluster_id AND c.event_time <= b.taken_at
    GROUP BY b.cluster_id, b.hsms, b.taken_at
),
judged AS (
    SELECT
        r.*,
        -- Never below zero: events the data lacks can make the sum negative.
        CASE WHEN b.cluster_id IS NOT NULL THEN GREATEST(0, b.hsms + r.net_after - b.net_at_baseline)
             WHEN cr.cluster_id IS NOT NULL THEN GREATEST(0, r.net_after) END AS hsms_after,
        CASE WHEN b.cluster_id IS NOT NULL
                 THEN 'the describe-clusters baseline: ' || CAST(b.hsms AS VARCHAR)
                      || CASE WHEN b.hsms = 1 THEN ' HSM' ELSE ' HSMs' END || ' at '
                      || substr(replace(CAST(CAST(b.taken_at AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
                      || ' UTC'
             ELSE 'its CreateCluster at '
                  || substr(replace(CAST(CAST(cr.created_at AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
                  || ' UTC' END AS counted_from
    FROM running r
    LEFT JOIN baseline b ON b.cluster_id = r.cluster_id
    LEFT JOIN created cr ON cr.cluster_id = r.cluster_id
    LEFT JOIN deleted d ON d.cluster_id = r.cluster_id AND d.deleted_at > r.event_time
    WHERE r.event_name = 'DeleteHsm'
      AND d.cluster_id IS NULL
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    cluster_id AS resource,
    event_id AS event_ids,
    'DeleteHsm of ' || COALESCE(hsm_id, 'an HSM') || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' left cluster ' || cluster_id || ' with ' || CAST(hsms_after AS VARCHAR)
        || CASE WHEN hsms_after = 1 THEN ' HSM' ELSE ' HSMs' END
        || ' (minimum ' || CAST({{min_hsms}} AS VARCHAR) || '; counted from ' || counted_from || ')' AS detail
FROM judged
WHERE hsms_after IS NOT NULL
  AND hsms_after < {{min_hsms}}
ORDER BY event_time, resource, event_ids
