"""The one exception root of dmarcpilot (DESIGN.md, convention 4).

Packages define their own subclasses next to the code that raises them; every
boundary (CLI, web, DNS) maps a ``DmarcpilotError`` to its own error shape once.
"""


class DmarcpilotError(Exception):
    """Root of every error dmarcpilot raises on purpose."""


class ConfigError(DmarcpilotError):
    """A setting is missing or invalid."""
