"""Run store (atomic run directories), manifests and reports."""
