"""``python -m mac_core`` runs the ``mac`` command line."""

from .cli import main

main()
