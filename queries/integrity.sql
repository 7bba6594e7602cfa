-- name: integrity
-- title: Inputs proven by CloudTrail's signed digests
-- description: Each input file with its events and whether a CloudTrail digest proven by its signature lists it with its exact hash (source_verified, written by convert --verify): inputs not proven first, then those converted without --verify, then the proven ones.
SELECT
    source_file,
    CASE
        WHEN bool_or(source_verified IS NULL) THEN 'not checked (converted without --verify)'
        WHEN bool_and(source_verified) THEN 'proven'
        ELSE 'NOT proven'
    END AS integrity,
    count(*) AS events,
    min(event_time) AS first_event,
    max(event_time) AS last_event
FROM events
GROUP BY source_file
ORDER BY
    CASE
        WHEN bool_or(source_verified IS NULL) THEN 1
        WHEN bool_and(source_verified) THEN 2
        ELSE 0
    END,
    source_file
