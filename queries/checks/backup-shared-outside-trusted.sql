-- name: backup-shared-outside-trusted
-- title: A CloudHSM backup was shared outside the trusted accounts
-- severity: high
-- type: Effects/Data Exfiltration
-- mitre: T1537
-- why: An account a backup is shared with can restore it into a cluster of its own and, with the credentials of a crypto user of the original cluster, use every key in it; anything but a listed account (another account, an organisation or OU, or everyone) widens that circle.
-- action: If the sharing was not approved, remove it at once (DeleteResourcePolicy on the backup, or remove the backup from the AWS RAM share), then check the other account's activity and rotate the crypto users' passwords.
-- param: trusted_accounts list [] Accounts backups may be shared with (--trusted-account); when empty, the accounts seen in the data (events received or made by them)
WITH known_accounts AS (
    SELECT recipient_account_id AS account FROM events WHERE recipient_account_id IS NOT NULL
    UNION
    SELECT identity_account_id AS account FROM events WHERE identity_account_id IS NOT NULL
),
grants AS (
    SELECT
        event_id,
        event_time,
        event_source,
        event_name,
        recipient_account_id,
        aws_region,
        actor,
        backup_id,
        unnest(request_shared_with) AS grantee
    FROM events
    WHERE error_code IS NULL
      AND ((event_source = 'cloudhsm.amazonaws.com' AND event_name = 'PutResourcePolicy')
           OR (cloudhsm_relation = 'ram-backup-share'
               AND event_name IN ('CreateResourceShare', 'AssociateResourceShare')))
),
outside AS (
    SELECT g.*
    FROM grants g
    LEFT JOIN known_accounts k ON k.account = g.grantee
    -- The owner's own account is never outside.
    WHERE g.grantee <> COALESCE(g.recipient_account_id, '')
      AND (g.grantee = '*'
           OR ({{trusted_accounts}} <> ',' AND strpos({{trusted_accounts}}, ',' || g.grantee || ',') = 0)
           OR ({{trusted_accounts}} = ',' AND k.account IS NULL))
)
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(backup_id, 'unknown backup') AS resource,
    event_id AS event_ids,
    CASE WHEN event_source = 'ram.amazonaws.com' THEN 'AWS RAM ' ELSE '' END
        || event_name || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' shares backup ' || COALESCE(backup_id, '(unnamed)')
        || ' with ' || string_agg(DISTINCT grantee, ', ' ORDER BY grantee)
        || CASE WHEN {{trusted_accounts}} = ','
                THEN ', outside the accounts seen in the data'
                ELSE ', outside the trusted accounts ' || replace(substr({{trusted_accounts}}, 2, length({{trusted_accounts}}) - 2), ',', ', ') END
        AS detail
FROM outside
GROUP BY event_id, event_time, event_source, event_name, recipient_account_id, aws_region, actor, backup_id
ORDER BY event_time, resource, event_ids
