"""``python -m dmarcpilot``: the same as the ``dmarcpilot`` command."""

from dmarcpilot.cli.main import main

main()
