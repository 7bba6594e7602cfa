-- name: hsm-login-failure-burst
-- title: Many failed logins of one HSM user in a short while
-- severity: medium
-- type: TTPs/Credential Access
-- mitre: T1110
-- why: Failed logins in a burst are what password guessing looks like, and enough of them lock the user out of the HSM, which stops the applications that log in as that user.
-- action: Find out who or what tried to log in (the client instances that reach the cluster's ENIs); if it is not a misconfigured application, rotate the user's password and restrict which hosts can reach the cluster.
-- param: burst integer 5 Failed logins of one user on one HSM that make a burst
-- param: minutes integer 5 The window they must fall within, in minutes
WITH failed AS (
    SELECT
        COALESCE(hsm_id, '') AS hsm_key,
        hsm_id,
        user_name,
        account_id,
        event_time,
        entry_id,
        ROW_NUMBER() OVER (PARTITION BY COALESCE(hsm_id, ''), user_name
                           ORDER BY event_time, entry_id) AS seq
    FROM hsm_audit
    WHERE opcode = 'CN_LOGIN'
      AND NOT success
      AND user_name IS NOT NULL
),
windows AS (
    -- Each failure with the failures of the same user on the same HSM in the minutes up to it.
    SELECT
        f.hsm_key,
        f.hsm_id,
        f.user_name,
        f.account_id,
        f.seq,
        f.event_time,
        COUNT(*) AS failures,
        MIN(w.event_time) AS window_start,
        string_agg(w.entry_id, ',' ORDER BY w.entry_id) AS event_ids
    FROM failed f
    JOIN failed w
      ON w.hsm_key = f.hsm_key
     AND w.user_name = f.user_name
     AND w.seq <= f.seq
     AND w.event_time >= f.event_time - INTERVAL '{{minutes}} minutes'
    GROUP BY f.hsm_key, f.hsm_id, f.user_name, f.account_id, f.seq, f.event_time
),
crossings AS (
    -- A burst is reported once, at the failure that brings the count up to `burst`.
    SELECT
        *,
        LAG(failures) OVER (PARTITION BY hsm_key, user_name ORDER BY seq) AS failures_before
    FROM windows
)
SELECT
    event_time,
    account_id,
    CAST(NULL AS VARCHAR) AS region,
    user_name AS principal,
    COALESCE(hsm_id, 'an HSM of an unknown stream') AS resource,
    event_ids,
    'HSM user ' || user_name || ' failed to log in ' || CAST(failures AS VARCHAR) || ' times within '
        || CAST(CAST(floor((date_part('epoch', event_time) - date_part('epoch', window_start)) / 60.0) AS BIGINT) AS VARCHAR)
        || ' min on ' || COALESCE(hsm_id, 'an HSM of an unknown stream') AS detail
FROM crossings
WHERE failures >= {{burst}}
  AND COALESCE(failures_before, 0) < {{burst}}
ORDER BY event_time, resource, event_ids
