-- name: hsm-zeroization-reboots
-- title: HSM zeroization, initialization, backups, end markers and reboots
-- description: Zeroization (CN_ZEROIZE), initialization (CN_INIT_TOKEN, CN_INIT_DONE), backups (CN_BACKUP_BEGIN, CN_BACKUP_END), restores (CN_RESTORE_BEGIN, CN_RESTORE_END) and end markers (END_MARKER_OPCODE: a deleted HSM's last entry) from the HSM audit log, and reboots: a change of reboot counter between consecutive entries (by time) of one HSM's stream, with the counters from and to and the times of the last entry before and the first after.
-- with: stream_clusters
WITH
-- Only a cluster's first HSM logs its initialization. A reboot row's own time is the first entry
-- after it; a counter going up by more than 1 means reboots with no entry in the data. Entries of
-- an unknown stream (hsm_id null) are listed but cannot show a reboot.
-- The cluster is the entry's, else its stream's (an exported copy does not name its log group),
-- else CloudTrail's for the HSM.
operations AS (
    SELECT
        event_time,
        cluster_id,
        hsm_id,
        CASE
            WHEN opcode = 'CN_ZEROIZE' THEN 'zeroization'
            WHEN opcode IN ('CN_INIT_TOKEN', 'CN_INIT_DONE') THEN 'initialization'
            WHEN opcode IN ('CN_BACKUP_BEGIN', 'CN_BACKUP_END') THEN 'backup'
            WHEN opcode IN ('CN_RESTORE_BEGIN', 'CN_RESTORE_END') THEN 'restore'
            ELSE 'end marker'
        END AS kind,
        opcode,
        success,
        COALESCE(CAST(response_code AS VARCHAR) || ': ', '') || COALESCE(response_text, '(no response text)') AS response,
        reboot_counter,
        sequence_number,
        CAST(NULL AS BIGINT) AS from_counter,
        CAST(NULL AS BIGINT) AS to_counter,
        CAST(NULL AS TIMESTAMP) AS last_entry_before,
        CAST(NULL AS TIMESTAMP) AS first_entry_after,
        entry_id
    FROM hsm_audit
    WHERE opcode IN ('CN_ZEROIZE', 'CN_INIT_TOKEN', 'CN_INIT_DONE', 'CN_BACKUP_BEGIN', 'CN_BACKUP_END',
                     'CN_RESTORE_BEGIN', 'CN_RESTORE_END', 'END_MARKER_OPCODE')
),
ordered AS (
    -- Each entry of a known stream with the entry before it (by time) in the same stream.
    SELECT
        event_time,
        cluster_id,
        hsm_id,
        reboot_counter,
        sequence_number,
        entry_id,
        LAG(reboot_counter) OVER (PARTITION BY hsm_id
                                  ORDER BY event_time, reboot_counter, sequence_number, entry_id) AS previous_counter,
        LAG(event_time) OVER (PARTITION BY hsm_id
                              ORDER BY event_time, reboot_counter, sequence_number, entry_id) AS previous_time
    FROM hsm_audit
    WHERE hsm_id IS NOT NULL
      AND reboot_counter IS NOT NULL
),
reboots AS (
    SELECT
        event_time,
        cluster_id,
        hsm_id,
        CASE WHEN reboot_counter > previous_counter THEN 'reboot' ELSE 'reboot counter went back' END AS kind,
        CAST(NULL AS VARCHAR) AS opcode,
        CAST(NULL AS BOOLEAN) AS success,
        CAST(NULL AS VARCHAR) AS response,
        reboot_counter,
        sequence_number,
        previous_counter AS from_counter,
        reboot_counter AS to_counter,
        previous_time AS last_entry_before,
        event_time AS first_entry_after,
        entry_id
    FROM ordered
    WHERE previous_counter IS NOT NULL
      AND reboot_counter <> previous_counter
),
rows_found AS (
    SELECT * FROM operations
    UNION ALL
    SELECT * FROM reboots
)
SELECT
    r.event_time,
    COALESCE(r.cluster_id, s.cluster_id) AS cluster_id,
    r.hsm_id,
    r.kind,
    r.opcode,
    r.success,
    r.response,
    r.reboot_counter,
    r.sequence_number,
    r.from_counter,
    r.to_counter,
    r.last_entry_before,
    r.first_entry_after
FROM rows_found r
LEFT JOIN stream_clusters s ON s.hsm_id = r.hsm_id
ORDER BY r.event_time, r.hsm_id NULLS LAST, r.kind, r.entry_id
