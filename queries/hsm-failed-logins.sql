-- name: hsm-failed-logins
-- title: Failed HSM logins and lock-out bursts
-- description: Failed logins (CN_LOGIN refused) from the HSM audit log, per user and HSM: how many, the first and last, the responses, and the worst window: the most failures within burst_minutes of one of them (the window's start), a lock-out burst from burst failures. A login is logged on every HSM of the cluster, so one attempt counts once per HSM; entries of an unknown stream (hsm_id null) are counted together per user, and their window is then an upper bound.
-- param: burst integer 5 Failed logins of one user on one HSM that make a burst
-- param: burst_minutes integer 5 The window the burst must fall within, in minutes
-- with: stream_clusters
WITH
-- A failure is a CN_LOGIN whose response is not success. The cluster is the entry's, else its
-- stream's (another entry of the same HSM: a copy exported with CreateExportTask does not name
-- its log group), else CloudTrail's for the HSM.
failures AS (
    SELECT
        COALESCE(hsm_id, '') AS hsm_key,
        COALESCE(user_name, '') AS user_key,
        hsm_id,
        user_name,
        user_type,
        cluster_id,
        event_time,
        entry_id,
        COALESCE(CAST(response_code AS VARCHAR) || ': ', '') || COALESCE(response_text, '(no response text)') AS response
    FROM hsm_audit
    WHERE opcode = 'CN_LOGIN'
      AND success = false
),
windows AS (
    -- Each failure as the start of a window, with the failures of the same user on the same
    -- HSM up to burst_minutes after it.
    SELECT
        f.hsm_key,
        f.user_key,
        f.event_time AS window_start,
        f.entry_id,
        COUNT(*) AS in_window
    FROM failures f
    JOIN failures w
      ON w.hsm_key = f.hsm_key
     AND w.user_key = f.user_key
     AND w.event_time >= f.event_time
     AND w.event_time <= f.event_time + INTERVAL '{{burst_minutes}} minutes'
    GROUP BY f.hsm_key, f.user_key, f.event_time, f.entry_id
),
worst AS (
    SELECT hsm_key, user_key, window_start, in_window
    FROM (
        SELECT
            hsm_key,
            user_key,
            window_start,
            in_window,
            ROW_NUMBER() OVER (PARTITION BY hsm_key, user_key
                               ORDER BY in_window DESC, window_start, entry_id) AS rank_in_group
        FROM windows
    ) ranked
    WHERE rank_in_group = 1
),
totals AS (
    SELECT
        hsm_key,
        user_key,
        MAX(hsm_id) AS hsm_id,
        MAX(user_name) AS user_name,
        MAX(cluster_id) AS cluster_id,
        COUNT(*) AS failures,
        MIN(event_time) AS first_failure,
        MAX(event_time) AS last_failure
    FROM failures
    GROUP BY hsm_key, user_key
),
-- (DataFusion refuses string_agg calls ordered differently in one aggregation, so the lists
-- are aggregated apart.)
responses AS (
    SELECT hsm_key, user_key, string_agg(DISTINCT response, '; ' ORDER BY response) AS responses
    FROM failures
    GROUP BY hsm_key, user_key
),
user_types AS (
    SELECT hsm_key, user_key, string_agg(DISTINCT user_type, ', ' ORDER BY user_type) AS user_types
    FROM failures
    GROUP BY hsm_key, user_key
)
SELECT
    t.hsm_id,
    COALESCE(t.cluster_id, s.cluster_id) AS cluster_id,
    t.user_name,
    u.user_types,
    t.failures,
    t.first_failure,
    t.last_failure,
    r.responses,
    w.in_window AS worst_window_failures,
    w.window_start AS worst_window_start,
    w.in_window >= {{burst}} AS lockout_burst
FROM totals t
JOIN worst w ON w.hsm_key = t.hsm_key AND w.user_key = t.user_key
JOIN responses r ON r.hsm_key = t.hsm_key AND r.user_key = t.user_key
JOIN user_types u ON u.hsm_key = t.hsm_key AND u.user_key = t.user_key
LEFT JOIN stream_clusters s ON s.hsm_id = t.hsm_id
ORDER BY t.hsm_id NULLS LAST, t.user_name NULLS LAST
