-- name: non-fips-cluster
-- title: A CloudHSM cluster was created in non-FIPS mode
-- severity: high
-- type: Software and Configuration Checks/Industry and Regulatory Standards
-- mitre: -
-- why: A cluster in NON_FIPS mode allows algorithms and key sizes that FIPS 140 does not approve, so keys kept in it do not meet FIPS requirements, and a cluster's mode cannot be changed after it is created.
-- action: If FIPS validation is required, create a new cluster in FIPS mode, move the keys and applications to it, and delete this one; otherwise record the exception.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(cluster_id, 'unknown cluster') AS resource,
    event_id AS event_ids,
    'CreateCluster of ' || COALESCE(cluster_id, 'an unnamed cluster')
        || COALESCE(' (' || COALESCE(response_cluster_hsm_type, request_hsm_type) || ')', '')
        || ' in NON_FIPS mode by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address') AS detail
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name = 'CreateCluster'
  AND error_code IS NULL
  AND (request_mode = 'NON_FIPS' OR response_cluster_mode = 'NON_FIPS')
ORDER BY event_time, resource, event_ids
