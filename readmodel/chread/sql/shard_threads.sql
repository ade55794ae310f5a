SELECT value FROM system.settings WHERE name = 'max_threads'
