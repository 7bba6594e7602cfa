-- name: cluster-lifecycle
-- title: Cluster lifecycle
-- description: Per cluster, every CreateCluster, InitializeCluster, ModifyCluster and DeleteCluster with time, actor and result.
SELECT
    cluster_id,
    event_time,
    event_name,
    actor,
    aws_region,
    request_hsm_type,
    request_backup_retention_value,
    COALESCE(response_cluster_state, response_state) AS state_after,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name IN ('CreateCluster', 'InitializeCluster', 'ModifyCluster', 'DeleteCluster')
  AND cluster_id IS NOT NULL
ORDER BY cluster_id, event_time
