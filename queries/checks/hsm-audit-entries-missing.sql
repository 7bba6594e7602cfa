-- name: hsm-audit-entries-missing
-- title: HSM audit log entries are missing
-- severity: high
-- type: TTPs/Defense Evasion
-- mitre: T1070
-- why: An HSM numbers its audit entries one after another within a reboot counter; a gap means entries were lost or deleted between the HSM and the data (a log stream trimmed, an export or subscription that missed them), and what they recorded (logins, user and key changes) cannot be known.
-- action: Find the missing sequence numbers in CloudWatch Logs (the log group /aws/cloudhsm/<cluster>, the HSM's stream) and collect them again; if CloudWatch Logs no longer has them, find out who changed the log group's retention or deleted from it (CloudTrail's audit-log-group events) and treat what happened on the HSM in that time as unknown.
WITH ordered AS (
    SELECT
        hsm_id,
        reboot_counter,
        sequence_number,
        event_time,
        entry_id,
        account_id,
        LAG(sequence_number) OVER w AS previous_number,
        LAG(event_time) OVER w AS previous_time,
        LAG(entry_id) OVER w AS previous_entry
    FROM hsm_audit
    WHERE hsm_id IS NOT NULL
      AND reboot_counter IS NOT NULL
      AND sequence_number IS NOT NULL
    WINDOW w AS (PARTITION BY hsm_id, reboot_counter ORDER BY sequence_number, entry_id)
)
SELECT
    event_time,
    account_id,
    CAST(NULL AS VARCHAR) AS region,
    CAST(NULL AS VARCHAR) AS principal,
    hsm_id AS resource,
    previous_entry || ',' || entry_id AS event_ids,
    CAST(sequence_number - previous_number - 1 AS VARCHAR) || ' audit entries missing on ' || hsm_id
        || ' (reboot counter ' || CAST(reboot_counter AS VARCHAR) || ', sequence numbers '
        || CAST(previous_number + 1 AS VARCHAR) || ' to ' || CAST(sequence_number - 1 AS VARCHAR)
        || ') in the '
        || CAST(CAST(floor(date_part('epoch', event_time) - date_part('epoch', previous_time)) AS BIGINT) AS VARCHAR)
        || ' s before this entry' AS detail
FROM ordered
WHERE sequence_number > previous_number + 1
ORDER BY event_time, resource, event_ids
