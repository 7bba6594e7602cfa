-- Shared by the hsm- reports that name it in their '-- with:' header; the catalogue puts it
-- at the start of their WITH list, so that each report's SQL still runs alone (--sql).
stream_clusters AS (
    -- An HSM's cluster: from its own audit entries, else from CloudTrail.
    SELECT
        hsm_id,
        COALESCE(MAX(CASE WHEN side = 'audit' THEN cluster_id END),
                 MAX(CASE WHEN side = 'cloudtrail' THEN cluster_id END)) AS cluster_id
    FROM (
        SELECT hsm_id, cluster_id, 'audit' AS side
        FROM hsm_audit
        WHERE hsm_id IS NOT NULL AND cluster_id IS NOT NULL
        UNION ALL
        SELECT hsm_id, cluster_id, 'cloudtrail' AS side
        FROM events
        WHERE hsm_id IS NOT NULL AND cluster_id IS NOT NULL
    ) known
    GROUP BY hsm_id
)
