"""``dmarcpilot run``: every configured source plus the scheduled jobs, as one long-running service."""
