-- name: cluster-lifecycle
-- title: Cluster lifecycle
-- description: Per cluster, every CreateCluster, InitializeCluster, ModifyCluster and DeleteCluster, and what other services did to it: AWS KMS custom key stores it backs (created, updated, connected, disconnected, deleted) and changes to its HSM audit log group; with time, actor and result.
SELECT
    cluster_id,
    event_time,
    split_part(event_source, '.', 1) AS service,
    event_name,
    actor,
    aws_region,
    request_hsm_type,
    request_backup_retention_value,
    COALESCE(request_custom_key_store_id, request_log_group_name) AS related_resource,
    COALESCE(response_cluster_state, response_state) AS state_after,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE cluster_id IS NOT NULL
  AND ((event_source = 'cloudhsm.amazonaws.com'
        AND event_name IN ('CreateCluster', 'InitializeCluster', 'ModifyCluster', 'DeleteCluster'))
       OR cloudhsm_relation IN ('kms-custom-key-store', 'audit-log-group'))
ORDER BY cluster_id, event_time, event_id
