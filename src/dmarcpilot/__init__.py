"""dmarcpilot: take mail domains from DMARC monitoring to enforcement."""

__version__ = "0.1.0"
