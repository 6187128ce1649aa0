"""The package list, found rather than written: a built-in plugin is then one entry-point line in pyproject.toml.

Everything else about the build is in ``pyproject.toml``. The built-in plugins
live in ``plugins/`` and install as ``mac_plugins.*`` (the ``package-dir``
mapping there); ``packages.find`` in ``pyproject.toml`` cannot rename a folder,
so the subpackages of ``plugins/`` are found here and given their installed names.
"""

from setuptools import find_packages, setup

setup(packages=["mac_core", "mac_plugins", *(f"mac_plugins.{name}" for name in find_packages("plugins"))])
