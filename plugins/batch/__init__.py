"""The ``batch`` transport (in progress)."""
