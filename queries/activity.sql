-- name: activity
-- title: Activity
-- description: Events per day (UTC), account and region, split into reads and writes, with errors.
SELECT
    CAST(event_time AS DATE) AS day,
    COALESCE(recipient_account_id, identity_account_id) AS account,
    aws_region AS region,
    COUNT(*) AS events,
    SUM(CASE WHEN COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%') THEN 1 ELSE 0 END) AS reads,
    SUM(CASE WHEN COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%') THEN 0 ELSE 1 END) AS writes,
    SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS errors
FROM events
GROUP BY CAST(event_time AS DATE), COALESCE(recipient_account_id, identity_account_id), aws_region
ORDER BY day, account, region
