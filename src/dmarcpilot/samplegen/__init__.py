"""Deterministic sample data: a year of DMARC reports for a university-like domain."""
