-- name: hsm-key-lifecycle
-- title: HSM key lifecycle by user
-- description: Key lifecycle from the HSM audit log, by user: generate (CN_GENERATE_KEY, CN_GENERATE_KEY_PAIR), import (CN_UNWRAP_KEY, CN_CREATE_OBJECT, CN_INSERT_MASKED_OBJECT_USER: a key arriving from another HSM of the cluster), export (CN_WRAP_KEY, CN_NIST_AES_WRAP, CN_EXTRACT_MASKED_OBJECT_USER: a key leaving for the others), share, derive, modify and destroy (CN_DESTROY_OBJECT, CN_TOMBSTONE_OBJECT), with key handles, HSM, time and result. Key entries name no user: logged_in_user is the user of the last successful CN_LOGIN before the entry on the same HSM (logged-in user, inferred).
-- with: stream_clusters, logged_in_user
WITH
-- logged_in_user: the user of the most recent successful CN_LOGIN before the entry in the same
-- stream (same hsm_id and reboot counter, by sequence number); inferred, not logged (the session
-- handle cannot tie actions to a login), and none for an unknown stream (hsm_id null) or when no
-- login precedes the entry. sequence_numbers_missing_since_login: entries lost between that login
-- and the entry; above 0, another login may be among them and the user is uncertain.
-- Handles of 0 mean none and are shown empty; a destroy names the deleted key in
-- priv_secret_key_handle. key_handle, share_operation and share_user_ids are the variant keys
-- `Key Handle`, `Operation` and `UserIDs`, when the entry has them.
-- The cluster is the entry's, else its stream's (an exported copy does not name its log group),
-- else CloudTrail's for the HSM.
keys AS (
    SELECT
        a.*,
        CASE
            WHEN a.opcode IN ('CN_GENERATE_KEY', 'CN_GENERATE_KEY_PAIR') THEN 'generate'
            WHEN a.opcode IN ('CN_UNWRAP_KEY', 'CN_CREATE_OBJECT', 'CN_INSERT_MASKED_OBJECT_USER') THEN 'import'
            WHEN a.opcode IN ('CN_WRAP_KEY', 'CN_NIST_AES_WRAP', 'CN_EXTRACT_MASKED_OBJECT_USER') THEN 'export'
            WHEN a.opcode = 'CN_SHARE_OBJECT' THEN 'share'
            WHEN a.opcode = 'CN_DERIVE_KEY' THEN 'derive'
            WHEN a.opcode = 'CN_MODIFY_OBJECT' THEN 'modify'
            ELSE 'destroy'
        END AS stage
    FROM hsm_audit a
    WHERE a.opcode IN ('CN_GENERATE_KEY', 'CN_GENERATE_KEY_PAIR',
                       'CN_UNWRAP_KEY', 'CN_CREATE_OBJECT', 'CN_INSERT_MASKED_OBJECT_USER',
                       'CN_WRAP_KEY', 'CN_NIST_AES_WRAP', 'CN_EXTRACT_MASKED_OBJECT_USER',
                       'CN_SHARE_OBJECT', 'CN_DERIVE_KEY', 'CN_MODIFY_OBJECT',
                       'CN_DESTROY_OBJECT', 'CN_TOMBSTONE_OBJECT')
)
SELECT
    t.logged_in_user,
    k.event_time,
    COALESCE(k.cluster_id, s.cluster_id) AS cluster_id,
    k.hsm_id,
    k.stage,
    k.opcode,
    NULLIF(k.priv_secret_key_handle, 0) AS priv_secret_key_handle,
    NULLIF(k.public_key_handle, 0) AS public_key_handle,
    k.key_handle,
    k.operation AS share_operation,
    k.user_ids AS share_user_ids,
    k.success,
    COALESCE(CAST(k.response_code AS VARCHAR) || ': ', '') || COALESCE(k.response_text, '(no response text)') AS response,
    t.sequence_numbers_missing_since_login,
    k.reboot_counter,
    k.sequence_number
FROM keys k
LEFT JOIN attributed t ON t.entry_id = k.entry_id
LEFT JOIN stream_clusters s ON s.hsm_id = k.hsm_id
ORDER BY t.logged_in_user NULLS LAST, k.event_time, k.hsm_id NULLS LAST, k.entry_id
