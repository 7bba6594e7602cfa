-- name: trail-stopped-or-deleted
-- title: A CloudTrail trail was stopped or deleted
-- severity: critical
-- type: TTPs/Defense Evasion
-- mitre: T1562.008
-- why: While a trail is stopped or gone, what is done to CloudHSM and the rest of the account is not recorded, which is why stopping logging is a common first step of an attack.
-- action: Start the trail again at once (StartLogging, or recreate it), find out who stopped it and why, and review the activity in the gap from other sources (CloudTrail event history keeps 90 days of management events).
WITH trail_calls AS (
    SELECT
        event_time,
        event_id,
        event_name,
        recipient_account_id,
        aws_region,
        actor,
        source_ip_address,
        -- A trail is named by name or ARN: the name is what follows ':trail/'.
        CASE WHEN strpos(request_trail_name, ':trail/') > 0
             THEN substr(request_trail_name, strpos(request_trail_name, ':trail/') + 7)
             ELSE request_trail_name END AS trail
    FROM events
    WHERE event_source = 'cloudtrail.amazonaws.com'
      AND event_name IN ('StopLogging', 'DeleteTrail', 'StartLogging')
      AND error_code IS NULL
),
stops AS (
    SELECT * FROM trail_calls WHERE event_name IN ('StopLogging', 'DeleteTrail')
),
restarts AS (
    SELECT
        s.event_id,
        MIN(r.event_time) AS restarted_at
    FROM stops s
    JOIN trail_calls r
      ON r.trail = s.trail
     AND COALESCE(r.recipient_account_id, '') = COALESCE(s.recipient_account_id, '')
     AND r.event_name = 'StartLogging'
     AND r.event_time > s.event_time
    GROUP BY s.event_id
),
judged AS (
    SELECT
        s.*,
        CAST(floor(date_part('epoch', r.restarted_at) - date_part('epoch', s.event_time)) AS BIGINT) AS gap_s
    FROM stops s
    LEFT JOIN restarts r ON r.event_id = s.event_id
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(trail, 'unknown trail') AS resource,
    event_id AS event_ids,
    event_name || ' of trail ' || COALESCE(trail, '(unnamed)')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE
               WHEN gap_s IS NULL THEN '; no later StartLogging of it seen'
               WHEN gap_s < 7200
                   THEN '; StartLogging of it ' || CAST(CAST(floor(gap_s / 60.0) AS BIGINT) AS VARCHAR) || ' min later'
               WHEN gap_s < 172800
                   THEN '; StartLogging of it ' || CAST(CAST(floor(gap_s / 3600.0) AS BIGINT) AS VARCHAR) || ' h later'
               ELSE '; StartLogging of it ' || CAST(CAST(floor(gap_s / 86400.0) AS BIGINT) AS VARCHAR) || ' days later'
           END AS detail
FROM judged
ORDER BY event_time, resource, event_ids
