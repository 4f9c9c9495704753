"""What a run leaves behind: results.json (schema and history), results.csv, the environment fingerprint."""
