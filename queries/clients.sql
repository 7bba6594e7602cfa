-- name: clients
-- title: Clients
-- description: Calls by kind of client, from the user agent: console, CLI, SDK, infrastructure as code, AWS services, other.
WITH classified AS (
    SELECT
        CASE
            WHEN user_agent IS NULL OR user_agent = '' THEN 'unknown'
            WHEN lower(user_agent) LIKE '%terraform%' OR lower(user_agent) LIKE '%pulumi%'
              OR lower(user_agent) LIKE '%cloudformation%' OR lower(user_agent) LIKE '%aws-cdk%'
              OR lower(user_agent) LIKE '%ansible%' OR lower(user_agent) LIKE '%crossplane%'
              THEN 'infrastructure as code'
            WHEN COALESCE(session_credential_from_console, false) OR user_agent LIKE 'Mozilla/%'
              OR user_agent LIKE 'aws-internal%' OR user_agent LIKE '%console.amazonaws.com%'
              THEN 'console'
            WHEN lower(user_agent) LIKE 'aws-cli/%' OR lower(user_agent) LIKE '%command/%'
              THEN 'cli'
            WHEN user_agent LIKE '%.amazonaws.com' OR user_agent = 'AWS Internal'
              THEN 'aws service'
            WHEN lower(user_agent) LIKE '%sdk%' OR lower(user_agent) LIKE 'boto%'
              OR lower(user_agent) LIKE '%botocore%'
              THEN 'sdk'
            ELSE 'other'
        END AS client,
        actor,
        event_name,
        read_only,
        error_code
    FROM events
)
SELECT
    client,
    COUNT(*) AS calls,
    SUM(CASE WHEN COALESCE(read_only, event_name LIKE 'Describe%' OR event_name LIKE 'List%' OR event_name LIKE 'Get%') THEN 0 ELSE 1 END) AS writes,
    SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS errors,
    COUNT(DISTINCT actor) AS actors
FROM classified
GROUP BY client
ORDER BY calls DESC, client
