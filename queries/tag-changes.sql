-- name: tag-changes
-- title: Tag changes
-- description: TagResource and UntagResource calls: which keys were added to or removed from which resource, by whom.
SELECT
    event_time,
    CASE WHEN event_name = 'TagResource' THEN 'added' ELSE 'removed' END AS change,
    actor,
    request_resource_id AS resource_id,
    request_tag_keys AS tag_keys,
    COALESCE(error_code, 'OK') AS result
FROM events
WHERE event_source = 'cloudhsm.amazonaws.com'
  AND event_name IN ('TagResource', 'UntagResource')
ORDER BY event_time
