"""Errors every layer may raise and the entry points show as one line.

Its own module, below the config and the packages the config validates against
(teachers, sources, verifiers), so that none of them imports the config to raise one.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the offending key."""
