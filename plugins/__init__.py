"""Built-in plugins of multi-agent-coordination, one package each.

Each is registered through the ``mac`` entry-point group in pyproject.toml,
exactly as a third-party plugin would be, and uses only the public
``mac_core`` API.
"""
