{{/* Deletes every row of the instances @ids (a parenthesized list) from
.Table: a mutation, which ClickHouse applies to the parts that exist now,
asynchronously (drift_mutations.sql tells when it is done). */}}
ALTER TABLE {{.DB}}.{{.Table}} DELETE WHERE instance_id IN @ids
