-- name: hsm-user-changes
-- title: HSM user and crypto officer changes
-- description: User and officer changes from the HSM audit log: users created (CN_CREATE_USER, CN_CREATE_CO, CN_CREATE_APPLIANCE_USER) and deleted (CN_DELETE_USER), passwords changed (CN_CHANGE_PSWD), quorum M values and tokens, and other user entries with Mfa enabled; with the user acted on (Target User Name when given, with User Name as actor), one row per HSM that logged it (never merged across HSMs), and logged_in_user: the user of the last successful CN_LOGIN before it on that HSM (logged-in user, inferred).
-- with: stream_clusters, logged_in_user
WITH
-- Each HSM logs what ran on it (logins are logged on every HSM, user changes in the fixtures
-- only on the HSM that ran them): a change seen on several HSMs is one row per HSM.
-- logged_in_user: the user of the most recent successful CN_LOGIN before the entry in the same
-- stream (same hsm_id and reboot counter, by sequence number); inferred, not logged (the session
-- handle cannot tie actions to a login), and none for an unknown stream (hsm_id null).
-- sequence_numbers_missing_since_login: entries lost between that login and the entry; above 0,
-- another login may be among them. Key entries (log type 1) carry Mfa enabled too, about the
-- caller: they are not MFA settings and are left to hsm-key-lifecycle.
-- The cluster is the entry's, else its stream's (an exported copy does not name its log group),
-- else CloudTrail's for the HSM.
changes AS (
    SELECT
        a.*,
        CASE a.opcode
            WHEN 'CN_CREATE_USER' THEN 'create user'
            WHEN 'CN_CREATE_CO' THEN 'create crypto officer'
            WHEN 'CN_CREATE_APPLIANCE_USER' THEN 'create appliance user'
            WHEN 'CN_DELETE_USER' THEN 'delete user'
            WHEN 'CN_CHANGE_PSWD' THEN 'change password'
            WHEN 'CN_SET_M_VALUE' THEN 'quorum: set M value'
            WHEN 'CN_GET_TOKEN' THEN 'quorum: get token'
            WHEN 'CN_APPROVE_TOKEN' THEN 'quorum: approve token'
            WHEN 'CN_DELETE_TOKEN' THEN 'quorum: delete token'
            ELSE 'MFA setting'
        END AS change
    FROM hsm_audit a
    WHERE a.opcode IN ('CN_CREATE_USER', 'CN_CREATE_CO', 'CN_CREATE_APPLIANCE_USER', 'CN_DELETE_USER',
                       'CN_CHANGE_PSWD', 'CN_SET_M_VALUE', 'CN_GET_TOKEN', 'CN_APPROVE_TOKEN',
                       'CN_DELETE_TOKEN')
       -- Mfa enabled on a user entry; key entries (log type 1) carry it too, about the caller.
       OR (a.mfa_enabled IS NOT NULL
           AND a.log_type = 'MGMT_USER_DETAILS_LOG'
           AND a.opcode NOT IN ('CN_LOGIN', 'CN_LOGOUT', 'CN_APP_FINALIZE', 'CN_CLOSE_SESSION'))
)
SELECT
    c.event_time,
    COALESCE(c.cluster_id, s.cluster_id) AS cluster_id,
    c.hsm_id,
    c.change,
    c.opcode,
    COALESCE(c.target_user_name, c.user_name) AS user_name,
    CASE WHEN c.target_user_name IS NOT NULL THEN c.target_user_type ELSE c.user_type END AS user_type,
    CASE WHEN c.target_user_name IS NOT NULL THEN c.user_name END AS actor,
    t.logged_in_user,
    t.sequence_numbers_missing_since_login,
    c.mfa_enabled,
    c.success,
    COALESCE(CAST(c.response_code AS VARCHAR) || ': ', '') || COALESCE(c.response_text, '(no response text)') AS response,
    c.reboot_counter,
    c.sequence_number
FROM changes c
LEFT JOIN attributed t ON t.entry_id = c.entry_id
LEFT JOIN stream_clusters s ON s.hsm_id = c.hsm_id
ORDER BY c.event_time, c.hsm_id NULLS LAST, c.entry_id
