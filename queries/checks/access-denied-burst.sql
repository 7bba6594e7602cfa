-- name: access-denied-burst
-- title: A principal was refused access many times in a short while
-- severity: medium
-- type: TTPs/Discovery
-- mitre: T1580
-- why: A burst of refused calls is what probing looks like: stolen credentials being tried against one API after another to learn what they are allowed to do, or a tool running with a role it should not have.
-- action: Find out what the principal was trying to do and from where; if it is not a known misconfigured job, disable its credentials (deactivate the access key or revoke the role's sessions) and review what it managed to do.
-- param: burst integer 5 Refusals of one principal that make a burst
-- param: minutes integer 10 The window they must fall within, in minutes
WITH denied AS (
    SELECT
        event_id,
        event_time,
        COALESCE(recipient_account_id, '') AS account_key,
        recipient_account_id,
        aws_region,
        actor,
        event_name,
        error_code,
        ROW_NUMBER() OVER (PARTITION BY COALESCE(recipient_account_id, ''), actor
                           ORDER BY event_time, event_id) AS seq
    FROM events
    WHERE actor IS NOT NULL
      AND (error_code IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation')
           OR error_code LIKE '%AccessDenied%'
           OR error_code LIKE '%UnauthorizedOperation%')
),
pairs AS (
    -- Each refusal with the refusals of the same principal in the minutes up to it.
    SELECT
        d.account_key,
        d.actor,
        d.seq,
        d.event_time,
        d.recipient_account_id,
        d.aws_region,
        w.event_id AS w_event_id,
        w.event_time AS w_event_time,
        w.event_name AS w_event_name,
        w.error_code AS w_error_code
    FROM denied d
    JOIN denied w
      ON w.account_key = d.account_key
     AND w.actor = d.actor
     AND w.seq <= d.seq
     AND w.event_time >= d.event_time - INTERVAL '{{minutes}} minutes'
),
windows AS (
    -- (DataFusion refuses string_agg calls ordered differently in one aggregation, so the
    -- lists of calls and errors are aggregated apart.)
    SELECT
        account_key,
        actor,
        seq,
        event_time,
        recipient_account_id,
        aws_region,
        COUNT(*) AS refusals,
        MIN(w_event_time) AS window_start,
        string_agg(w_event_id, ',' ORDER BY w_event_id) AS event_ids
    FROM pairs
    GROUP BY account_key, actor, seq, event_time, recipient_account_id, aws_region
),
calls AS (
    SELECT account_key, actor, seq, string_agg(DISTINCT w_event_name, ', ' ORDER BY w_event_name) AS calls
    FROM pairs
    GROUP BY account_key, actor, seq
),
errors AS (
    SELECT account_key, actor, seq, string_agg(DISTINCT w_error_code, ', ' ORDER BY w_error_code) AS errors
    FROM pairs
    GROUP BY account_key, actor, seq
),
crossings AS (
    -- A burst is reported once, at the refusal that brings the count up to `burst`.
    SELECT
        w.*,
        c.calls,
        e.errors,
        LAG(w.refusals) OVER (PARTITION BY w.account_key, w.actor ORDER BY w.seq) AS refusals_before
    FROM windows w
    JOIN calls c ON c.account_key = w.account_key AND c.actor = w.actor AND c.seq = w.seq
    JOIN errors e ON e.account_key = w.account_key AND e.actor = w.actor AND e.seq = w.seq
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    actor AS resource,
    event_ids,
    actor || ' was refused ' || CAST(refusals AS VARCHAR) || ' times within '
        || CAST(CAST(floor((date_part('epoch', event_time) - date_part('epoch', window_start)) / 60.0) AS BIGINT) AS VARCHAR)
        || ' min (' || errors || ') calling ' || calls AS detail
FROM crossings
WHERE refusals >= {{burst}}
  AND COALESCE(refusals_before, 0) < {{burst}}
ORDER BY event_time, resource, event_ids
