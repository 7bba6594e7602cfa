-- name: hsm-zeroized
-- title: An HSM was zeroized
-- severity: high
-- type: Effects/Data Destruction
-- mitre: T1485
-- why: Zeroizing an HSM erases every key and user on it; unless it was planned (the HSM replaced, the cluster restored from a backup) it is the destruction of the keys it held.
-- action: Confirm the zeroization was planned; if not, find who was logged in on the HSM before it (the hsm-key-lifecycle and hsm-user-changes reports), restore the cluster's keys from its latest backup, and rotate the crypto officers' passwords.
SELECT
    event_time,
    account_id,
    CAST(NULL AS VARCHAR) AS region,
    CAST(NULL AS VARCHAR) AS principal,
    COALESCE(hsm_id, 'an HSM of an unknown stream') AS resource,
    entry_id AS event_ids,
    'CN_ZEROIZE succeeded on ' || COALESCE(hsm_id, 'an HSM of an unknown stream')
        || COALESCE(' (cluster ' || cluster_id || ')', '') AS detail
FROM hsm_audit
WHERE opcode = 'CN_ZEROIZE'
  AND success
ORDER BY event_time, resource, event_ids
