-- name: cluster-deleted
-- title: A CloudHSM cluster was deleted
-- severity: high
-- type: Effects/Data Destruction
-- mitre: T1485
-- why: Deleting a cluster ends every application using its keys, and unless a backup of it is kept (and not deleted in turn) the keys in it are gone for good.
-- action: Confirm the deletion was planned and approved; if not, restore the cluster from its most recent backup (CreateCluster with the backup as source) and treat the principal's credentials as compromised.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(cluster_id, 'unknown cluster') AS resource,
    event_id AS event_ids,
    'DeleteCluster of ' || COALESCE(cluster_id, 'an unnamed cluster')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address') AS detail
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name = 'DeleteCluster'
  AND error_code IS NULL
ORDER BY event_time, resource, event_ids
