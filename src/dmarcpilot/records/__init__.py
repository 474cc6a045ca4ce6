"""Value objects for the DNS records dmarcpilot reads and publishes: from_text / to_text, strict validation, no DNS."""
