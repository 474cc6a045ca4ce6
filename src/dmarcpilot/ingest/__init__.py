"""The ingest pipeline: sources -> reports (parse) -> store."""
