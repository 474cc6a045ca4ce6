"""``python -m dmarcpilot``: the same as the ``dmarcpilot`` command."""

from dmarcpilot.cli.main import main

if __name__ == "__main__":  # worker processes (ingest.parallel) import this module too
    main()
