"""``dmarcpilot run``: the long-running service (every configured source plus the scheduled jobs)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from dmarcpilot.cli.common import EXIT_OK, Settings, emit_json, emit_table, format_option
from dmarcpilot.errors import ConfigError
from dmarcpilot.service.runner import Service
from dmarcpilot.settings import AppSettings, load_settings

log = logging.getLogger(__name__)


@click.command("run")
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False), envvar="DMARCPILOT_CONFIG",
              help="TOML configuration (env DMARCPILOT_CONFIG); SIGHUP reads it again.")
@format_option
@click.pass_obj
def run_cmd(settings: Settings, config: Path | None, fmt: str) -> None:
    """Collect reports continuously from every configured source and run the scheduled jobs.

    Sources: IMAP mailboxes ([imap.NAME], IDLE when offered), the SMTP
    receiver ([receiver]) and watched directories ([[watch]]); jobs: reverse
    DNS, SPF refresh and alerts at the [service] intervals. SIGTERM finishes
    the current batch and exits; SIGHUP reloads the configuration. What was
    done is printed at exit.
    """
    settings = settings.with_config(config)

    def load() -> AppSettings:
        app = load_settings(config) if config is not None else load_settings(None)
        if not app.has_sources:
            raise ConfigError("nothing to collect: configure [imap.NAME], [receiver] or [[watch]] "
                              "(docs/configuration.md)")
        return app

    service = Service(settings.engine(), load, settings.ip_databases)
    service.install_signals()
    log.info("dmarcpilot run: started")
    stats = service.run()
    if fmt == "json":
        emit_json(stats.to_dict())
    else:
        emit_table("dmarcpilot run", ("", "count"), sorted(stats.to_dict().items()))
    raise SystemExit(EXIT_OK)
