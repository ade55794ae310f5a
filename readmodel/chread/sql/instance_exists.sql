SELECT 1 FROM {{.DB}}.instances WHERE instance_id = @id LIMIT 1
