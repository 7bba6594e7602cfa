-- name: hsm-sequence-gaps
-- title: Missing HSM audit entries (sequence gaps)
-- description: Missing HSM audit entries, from the sequence numbers (0 at a stream's start, +1 an entry, within one reboot counter) of known streams (hsm_id given): a 'gap' between two entries, and a 'missing-start' where a reboot counter's first entry in the data is above 0 (every stream starts at 0, a joining HSM's too; it also shows when the data does not reach back that far: log retention, --since); with the first and last missing number, how many, and the times of the entries on either side.
-- with: stream_clusters
WITH
-- A joining HSM's stream starts at 0 with a (replicated) login, so a joining HSM gets no
-- exception: a later first entry means entries lost, or outside the data. Whether a reboot resets
-- the sequence is UNCONFIRMED (the fixtures reset it): a reboot counter whose first entry continues
-- the previous counter's numbers is not a missing start. Entries of an unknown stream (hsm_id
-- null) cannot be put in order and are left out. The cluster is the stream's (from its entries,
-- else CloudTrail's for the HSM).
numbered AS (
    SELECT
        hsm_id,
        reboot_counter,
        sequence_number,
        event_time,
        LAG(sequence_number) OVER (PARTITION BY hsm_id, reboot_counter ORDER BY sequence_number) AS previous_sequence,
        LAG(event_time) OVER (PARTITION BY hsm_id, reboot_counter ORDER BY sequence_number) AS previous_time
    FROM hsm_audit
    WHERE hsm_id IS NOT NULL
      AND reboot_counter IS NOT NULL
      AND sequence_number IS NOT NULL
),
gaps AS (
    SELECT
        hsm_id,
        reboot_counter,
        'gap' AS kind,
        previous_sequence + 1 AS first_missing,
        sequence_number - 1 AS last_missing,
        sequence_number - previous_sequence - 1 AS missing,
        previous_time AS entry_before,
        event_time AS entry_after
    FROM numbered
    WHERE previous_sequence IS NOT NULL
      AND sequence_number > previous_sequence + 1
),
firsts AS (
    -- The first entry in the data of each reboot counter of a stream.
    SELECT hsm_id, reboot_counter, sequence_number AS lowest, event_time AS first_time
    FROM numbered
    WHERE previous_sequence IS NULL
),
highest AS (
    SELECT hsm_id, reboot_counter, MAX(sequence_number) AS highest
    FROM numbered
    GROUP BY hsm_id, reboot_counter
),
counters AS (
    -- With the highest sequence number of the stream's previous reboot counter in the data.
    SELECT
        f.hsm_id,
        f.reboot_counter,
        f.lowest,
        f.first_time,
        LAG(h.highest) OVER (PARTITION BY f.hsm_id ORDER BY f.reboot_counter) AS previous_highest
    FROM firsts f
    JOIN highest h ON h.hsm_id = f.hsm_id AND h.reboot_counter = f.reboot_counter
),
missing_starts AS (
    SELECT
        hsm_id,
        reboot_counter,
        'missing-start' AS kind,
        CAST(0 AS BIGINT) AS first_missing,
        lowest - 1 AS last_missing,
        lowest AS missing,
        CAST(NULL AS TIMESTAMP) AS entry_before,
        first_time AS entry_after
    FROM counters
    WHERE lowest > 0
      AND (previous_highest IS NULL OR lowest <> previous_highest + 1)
),
found AS (
    SELECT * FROM gaps
    UNION ALL
    SELECT * FROM missing_starts
)
SELECT
    f.hsm_id,
    s.cluster_id,
    f.reboot_counter,
    f.kind,
    f.first_missing,
    f.last_missing,
    f.missing,
    f.entry_before,
    f.entry_after
FROM found f
LEFT JOIN stream_clusters s ON s.hsm_id = f.hsm_id
ORDER BY f.hsm_id, f.reboot_counter, f.first_missing
