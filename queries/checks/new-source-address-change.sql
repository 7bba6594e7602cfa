-- name: new-source-address-change
-- title: A change came from a source address not seen before
-- severity: low
-- type: Unusual Behaviors/User
-- mitre: T1078.004
-- why: A change to CloudHSM, or to what guards it, from an address first seen after the data's learning period can be credentials used from somewhere new, the usual sign of stolen access keys or a hijacked session.
-- action: Confirm the address belongs to the principal (a new office, VPN or build host); if not, disable the principal's credentials and review what was done from that address.
-- param: learning_days integer 7 Days from the data's first event during which every address seen counts as known
WITH data_start AS (
    SELECT MIN(event_time) AS first_event FROM events
),
first_seen AS (
    SELECT source_ip_address, MIN(event_time) AS first_seen
    FROM events
    WHERE source_ip_address IS NOT NULL
    GROUP BY source_ip_address
),
changes AS (
    SELECT
        e.event_time,
        e.event_id,
        e.recipient_account_id,
        e.aws_region,
        e.actor,
        e.event_name,
        e.error_code,
        e.source_ip_address,
        COALESCE(CASE WHEN e.event_name LIKE '%Cluster%' THEN e.cluster_id END, e.backup_id, e.hsm_id, e.request_custom_key_store_id, e.request_log_group_name,
                 e.request_trail_name, e.cluster_id) AS touched,
        f.first_seen,
        s.first_event,
        ROW_NUMBER() OVER (PARTITION BY e.source_ip_address ORDER BY e.event_time, e.event_id) AS nth
    FROM events e
    JOIN first_seen f ON f.source_ip_address = e.source_ip_address
    CROSS JOIN data_start s
    WHERE f.first_seen >= s.first_event + INTERVAL '{{learning_days}} days'
      AND e.source_ip_address NOT LIKE '%.amazonaws.com'
      AND e.source_ip_address <> 'AWS Internal'
      AND (e.event_source = 'cloudhsm.amazonaws.com' OR e.cloudhsm_relation IS NOT NULL)
      AND COALESCE(e.event_type, 'AwsApiCall') = 'AwsApiCall'
      AND COALESCE(e.identity_type, '') NOT IN ('AWSService', 'AWSAccount')
      AND NOT COALESCE(e.read_only, e.event_name LIKE 'Describe%' OR e.event_name LIKE 'List%' OR e.event_name LIKE 'Get%')
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    source_ip_address AS resource,
    event_id AS event_ids,
    'First change from ' || source_ip_address || ', first seen '
        || substr(replace(CAST(CAST(first_seen AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
        || ' UTC (after the ' || CAST({{learning_days}} AS VARCHAR) || ' learning days from '
        || substr(replace(CAST(CAST(first_event AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
        || ' UTC): ' || COALESCE(event_name, 'a call')
        || COALESCE(' on ' || touched, '')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || COALESCE(', refused: ' || error_code, '') AS detail
FROM changes
WHERE nth = 1
ORDER BY event_time, resource, event_ids
