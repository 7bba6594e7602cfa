-- name: kms-key-store-disconnected-or-deleted
-- title: A KMS custom key store backed by CloudHSM was disconnected or deleted
-- severity: high
-- type: Effects/Denial of Service
-- mitre: T1489, T1485
-- why: While a custom key store is disconnected none of its KMS keys can encrypt or decrypt, so the services and applications relying on them fail; a store can only be deleted once its KMS keys are, so a deletion means data under those keys can no longer be decrypted.
-- action: If it was not planned, reconnect the key store (ConnectCustomKeyStore) and check that its cluster has active HSMs; find out why the principal disconnected or deleted it.
SELECT
    event_time,
    recipient_account_id AS account_id,
    aws_region AS region,
    actor AS principal,
    COALESCE(request_custom_key_store_id, cluster_id, 'unknown key store') AS resource,
    event_id AS event_ids,
    event_name || ' of key store ' || COALESCE(request_custom_key_store_id, '(unnamed)')
        || COALESCE(' (cluster ' || cluster_id || ')', '')
        || ' by ' || COALESCE(actor, 'an unknown principal')
        || ' from ' || COALESCE(source_ip_address, 'an unknown address')
        || CASE WHEN event_name = 'DisconnectCustomKeyStore'
                THEN ': its KMS keys cannot be used until it is connected again'
                ELSE ': the store and the link to its cluster are gone' END AS detail
FROM events
WHERE event_source = 'kms.amazonaws.com'
  AND cloudhsm_relation = 'kms-custom-key-store'
  AND event_name IN ('DisconnectCustomKeyStore', 'DeleteCustomKeyStore')
  AND error_code IS NULL
ORDER BY event_time, resource, event_ids
