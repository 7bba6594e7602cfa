-- name: hsm-cloudtrail-crosscheck
-- title: HSMs in CloudTrail without an audit log, and audit logs of HSMs CloudTrail never shows
-- description: CloudTrail against the HSM audit log: HSMs a successful CreateHsm made that have no audit entry in the data ('created-no-audit-stream'), and audit streams (hsm_id) that no CloudTrail event names ('audit-stream-unknown-to-cloudtrail': made before the CloudTrail data, in an account or region it leaves out, or not through the CloudHSM API); with cluster, account, region, CreateHsm and DeleteHsm times, and the stream's first and last entries.
WITH
-- created-no-audit-stream: the cluster, account and region are CloudTrail's CreateHsm's;
-- cluster_has_audit_entries says whether the data holds other HSMs' entries of that cluster (if
-- not, its log group was probably not converted at all). audit-stream-unknown-to-cloudtrail: the
-- cluster is the stream's, the account its entries' else the cluster's (from its other entries,
-- else CloudTrail), the region CloudTrail's for the cluster. Entries of an unknown stream
-- (hsm_id null) cannot be matched and are left out.
cloudtrail_hsms AS (
    -- Every HSM any CloudTrail event names.
    SELECT DISTINCT hsm_id
    FROM events
    WHERE hsm_id IS NOT NULL
),
created AS (
    SELECT
        hsm_id,
        MAX(cluster_id) AS cluster_id,
        MAX(recipient_account_id) AS account_id,
        MAX(aws_region) AS region,
        MIN(event_time) AS created_at
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'CreateHsm'
      AND error_code IS NULL
      AND hsm_id IS NOT NULL
    GROUP BY hsm_id
),
deleted AS (
    SELECT hsm_id, MIN(event_time) AS deleted_at
    FROM events
    WHERE event_source = 'cloudhsm.amazonaws.com'
      AND event_name = 'DeleteHsm'
      AND error_code IS NULL
      AND hsm_id IS NOT NULL
    GROUP BY hsm_id
),
streams AS (
    SELECT
        hsm_id,
        MAX(cluster_id) AS cluster_id,
        MAX(account_id) AS account_id,
        MIN(event_time) AS first_entry,
        MAX(event_time) AS last_entry,
        COUNT(*) AS entries
    FROM hsm_audit
    WHERE hsm_id IS NOT NULL
    GROUP BY hsm_id
),
cluster_places AS (
    -- A cluster's account and region: from its log group's entries, else from CloudTrail.
    SELECT
        cluster_id,
        COALESCE(MAX(audit_account_id), MAX(cloudtrail_account_id)) AS account_id,
        MAX(region) AS region
    FROM (
        SELECT cluster_id, account_id AS audit_account_id, CAST(NULL AS VARCHAR) AS cloudtrail_account_id,
               CAST(NULL AS VARCHAR) AS region
        FROM hsm_audit
        WHERE cluster_id IS NOT NULL
        UNION ALL
        SELECT cluster_id, CAST(NULL AS VARCHAR), recipient_account_id, aws_region
        FROM events
        WHERE event_source = 'cloudhsm.amazonaws.com'
          AND cluster_id IS NOT NULL
    ) p
    GROUP BY cluster_id
),
audited_clusters AS (
    SELECT DISTINCT cluster_id
    FROM streams
    WHERE cluster_id IS NOT NULL
),
findings AS (
    SELECT
        'created-no-audit-stream' AS finding,
        c.hsm_id,
        c.cluster_id,
        c.account_id,
        c.region,
        c.created_at,
        d.deleted_at,
        CAST(NULL AS TIMESTAMP) AS first_entry,
        CAST(NULL AS TIMESTAMP) AS last_entry,
        CAST(0 AS BIGINT) AS entries,
        a.cluster_id IS NOT NULL AS cluster_has_audit_entries
    FROM created c
    LEFT JOIN deleted d ON d.hsm_id = c.hsm_id
    LEFT JOIN streams s ON s.hsm_id = c.hsm_id
    LEFT JOIN audited_clusters a ON a.cluster_id = c.cluster_id
    WHERE s.hsm_id IS NULL
    UNION ALL
    SELECT
        'audit-stream-unknown-to-cloudtrail' AS finding,
        s.hsm_id,
        s.cluster_id,
        COALESCE(s.account_id, p.account_id) AS account_id,
        p.region,
        CAST(NULL AS TIMESTAMP) AS created_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at,
        s.first_entry,
        s.last_entry,
        s.entries,
        CAST(TRUE AS BOOLEAN) AS cluster_has_audit_entries
    FROM streams s
    LEFT JOIN cloudtrail_hsms k ON k.hsm_id = s.hsm_id
    LEFT JOIN cluster_places p ON p.cluster_id = s.cluster_id
    WHERE k.hsm_id IS NULL
)
SELECT
    finding,
    hsm_id,
    cluster_id,
    account_id,
    region,
    created_at,
    deleted_at,
    first_entry,
    last_entry,
    entries,
    cluster_has_audit_entries
FROM findings
ORDER BY finding, hsm_id
