-- name: new-principal-change
-- title: A principal not seen before made a change
-- severity: medium
-- type: Unusual Behaviors/User
-- mitre: T1078.004
-- why: A user or role that first appears after the data's learning period and goes straight to changing CloudHSM, or what guards it, may be a newly created backdoor identity or credentials used by someone who should not have them.
-- action: Confirm who the principal is and who created or assumed it; if it is not expected, disable its credentials and review its changes.
-- param: learning_days integer 7 Days from the data's first event during which every principal seen counts as known
WITH data_start AS (
    SELECT MIN(event_time) AS first_event FROM events
),
-- A principal is its account and its IAM identity (the role behind a session, whatever the
-- session's name, which the caller chooses), so that a same-named role of another account is
-- another principal.
principals AS (
    SELECT *, COALESCE(identity_account_id, recipient_account_id, '') || '/' || COALESCE(identity_session_issuer_arn, identity_arn, actor) AS principal_key
    FROM events
    WHERE actor IS NOT NULL
),
first_seen AS (
    SELECT principal_key, MIN(event_time) AS first_seen
    FROM principals
    GROUP BY principal_key
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
        ROW_NUMBER() OVER (PARTITION BY e.principal_key ORDER BY e.event_time, e.event_id) AS nth
    FROM principals e
    JOIN first_seen f ON f.principal_key = e.principal_key
    CROSS JOIN data_start s
    WHERE f.first_seen >= s.first_event + INTERVAL '{{learning_days}} days'
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
    actor AS resource,
    event_id AS event_ids,
    actor || ', first seen ' || substr(replace(CAST(CAST(first_seen AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
        || ' UTC (after the ' || CAST({{learning_days}} AS VARCHAR) || ' learning days from '
        || substr(replace(CAST(CAST(first_event AS TIMESTAMP) AS VARCHAR), 'T', ' '), 1, 19)
        || ' UTC), made its first change: ' || COALESCE(event_name, 'a call')
        || COALESCE(' on ' || touched, '')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || COALESCE(', refused: ' || error_code, '') AS detail
FROM changes
WHERE nth = 1
ORDER BY event_time, resource, event_ids
