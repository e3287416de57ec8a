"""The version of chainrule, written only here.

pyproject.toml reads it (``[tool.setuptools.dynamic]``) for the package metadata, and
``chainrule.__version__`` imports it; CHANGELOG.md names the same number for each release.
"""

__version__ = "0.1.0"
