-- name: data-quality
-- title: Data quality
-- description: Record versions seen, duplicate event IDs, events delivered more than late_days after they happened (from S3 delivery file names), and typed columns left null by unexpected value types.
-- param: late_days integer 1 Days between an event and its delivery file's date beyond which it counts as late
SELECT check_name, value, events
FROM (
    SELECT 'event_version' AS check_name, COALESCE(event_version, '(none)') AS value, COUNT(*) AS events
    FROM events
    GROUP BY event_version
    UNION ALL
    SELECT 'duplicate_event_id', event_id, COUNT(*)
    FROM events
    WHERE event_id IS NOT NULL
    GROUP BY event_id
    HAVING COUNT(*) > 1
    UNION ALL
    SELECT 'late_delivery', source_file, COUNT(*)
    FROM (
        SELECT
            source_file,
            event_time,
            reverse(split_part(reverse(source_file), '_', 2)) AS delivered
        FROM events
        WHERE source_file LIKE '%CloudTrail%Z%.json%'
    ) files
    WHERE length(delivered) = 14
      AND CAST(substr(delivered, 1, 4) || '-' || substr(delivered, 5, 2) || '-' || substr(delivered, 7, 2) AS DATE)
          > CAST(event_time AS DATE) + INTERVAL '{{late_days}} days'
    GROUP BY source_file
    UNION ALL
    SELECT 'type_mismatch', mismatched_column, COUNT(*)
    FROM (SELECT unnest(type_mismatches) AS mismatched_column FROM events WHERE type_mismatches IS NOT NULL) m
    GROUP BY mismatched_column
) checks
ORDER BY check_name, value
