{{/* The first @limit errors per name, most frequent first (errorsData). */}}
SELECT {{template "errors_name" .}}, c, k, m, sum(n) AS cnt
FROM {{template "errors_from" .}}
ARRAY JOIN err_category AS c, err_kind AS k, err_message AS m, err_count AS n
GROUP BY {{template "errors_name" .}}, c, k, m
ORDER BY {{template "errors_name" .}}, cnt DESC, c, k, m
LIMIT @limit BY {{template "errors_name" .}}
