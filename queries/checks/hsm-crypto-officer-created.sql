-- name: hsm-crypto-officer-created
-- title: A crypto officer was created on an HSM
-- severity: medium
-- type: TTPs/Persistence
-- mitre: T1136
-- why: A crypto officer manages every user of the cluster (creates, deletes, resets their passwords); a new one is a lasting foothold if it was not planned.
-- action: Confirm the new officer was approved; if not, delete it (as another crypto officer) and find who created it: the officer logged in on the HSM just before (the hsm-user-changes report's logged_in_user).
SELECT
    event_time,
    account_id,
    CAST(NULL AS VARCHAR) AS region,
    CAST(NULL AS VARCHAR) AS principal,
    COALESCE(hsm_id, 'an HSM of an unknown stream') AS resource,
    entry_id AS event_ids,
    'Crypto officer ' || COALESCE(target_user_name, user_name, 'of unknown name') || ' created on '
        || COALESCE(hsm_id, 'an HSM of an unknown stream') AS detail
FROM hsm_audit
WHERE opcode = 'CN_CREATE_CO'
  AND success
ORDER BY event_time, resource, event_ids
