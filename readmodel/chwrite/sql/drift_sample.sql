{{/* Up to @n instance ids after @after, from the history (instances the
read model may lack) and from the instances table (rows the history may not
back). No ORDER BY: each side is an index seek that stops reading once it
has @n distinct ids (the caller runs it on one thread, so those come from
the first data parts in key order); an id may come from both sides. */}}
SELECT instance_id FROM (
	SELECT DISTINCT instance_id FROM {{.DB}}.history_v3 WHERE instance_id > @after LIMIT @n
	UNION ALL
	SELECT DISTINCT instance_id FROM {{.DB}}.instances WHERE instance_id > @after LIMIT @n)
