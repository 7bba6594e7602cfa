-- Shared by the hsm- reports that name it in their '-- with:' header (after stream_clusters):
-- each entry's logged-in user, inferred from the last successful CN_LOGIN before it.
stream AS (
    -- Entries of known streams in sequence order, each with the sequence number of the last
    -- successful login at or before it.
    SELECT
        entry_id,
        hsm_id,
        reboot_counter,
        sequence_number,
        opcode,
        success,
        user_name,
        MAX(CASE WHEN opcode = 'CN_LOGIN' AND success THEN sequence_number END)
            OVER (PARTITION BY hsm_id, reboot_counter ORDER BY sequence_number
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS login_sequence,
        ROW_NUMBER() OVER (PARTITION BY hsm_id, reboot_counter ORDER BY sequence_number) AS position
    FROM hsm_audit
    WHERE hsm_id IS NOT NULL
      AND reboot_counter IS NOT NULL
      AND sequence_number IS NOT NULL
),
logins AS (
    SELECT hsm_id, reboot_counter, sequence_number, position, user_name
    FROM stream
    WHERE opcode = 'CN_LOGIN' AND success
),
attributed AS (
    SELECT
        s.entry_id,
        l.user_name AS logged_in_user,
        (s.sequence_number - l.sequence_number) - (s.position - l.position) AS sequence_numbers_missing_since_login
    FROM stream s
    JOIN logins l
      ON l.hsm_id = s.hsm_id
     AND l.reboot_counter = s.reboot_counter
     AND l.sequence_number = s.login_sequence
)
