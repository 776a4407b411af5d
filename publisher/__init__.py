"""Makes a target (folder or S3 bucket) match the exporter's plan, sending only what changed."""
