-- name: trail-changed
-- title: What a CloudTrail trail records was changed
-- severity: medium
-- type: TTPs/Defense Evasion
-- mitre: T1562.008
-- why: UpdateTrail, PutEventSelectors and PutInsightSelectors can quietly narrow a trail (one region only, write events only, no management events, another bucket) so that CloudHSM activity is no longer recorded where the team looks.
-- action: Compare the trail's settings now (aws cloudtrail get-trail, get-event-selectors) with what they should be, restore them if they were narrowed, and confirm the change with the principal.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(CASE WHEN strpos(request_trail_name, ':trail/') > 0
                  THEN substr(request_trail_name, strpos(request_trail_name, ':trail/') + 7)
                  ELSE request_trail_name END, 'unknown trail') AS resource,
    event_id AS event_ids,
    event_name || ' on trail '
        || COALESCE(CASE WHEN strpos(request_trail_name, ':trail/') > 0
                         THEN substr(request_trail_name, strpos(request_trail_name, ':trail/') + 7)
                         ELSE request_trail_name END, '(unnamed)')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE event_name
               WHEN 'UpdateTrail' THEN ': its regions, bucket, log group or encryption may have changed'
               WHEN 'PutEventSelectors' THEN ': the events it records may have been narrowed'
               ELSE ': its Insights selection changed' END AS detail
FROM events
WHERE event_source = 'cloudtrail.amazonaws.com'
  AND event_name IN ('UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors')
  AND error_code IS NULL
ORDER BY event_time, resource, event_ids
