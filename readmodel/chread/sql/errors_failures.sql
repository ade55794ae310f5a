{{/* The failures per name (the failed counter) of the instance cells, or
with .Activities of the activity cells (errorsData). */}}
SELECT {{template "errors_name" .}}, sum(failed) AS f
FROM {{template "errors_from" .}}
GROUP BY {{template "errors_name" .}}
HAVING f > 0
ORDER BY {{template "errors_name" .}}
