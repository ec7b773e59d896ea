"""What every command shares: ``-v``, the console's logging, ``ray.*`` keys, refusals.

A command's ``main(argv)`` begins with :func:`start` (``-v`` taken out, ``--help``
answered, the console's logging set up before anything logs), and turns an input it cannot
run (:data:`REFUSED`: a bad config key, an unusable location, a bad export
option) into one line on stderr and exit code 2 with :func:`refuse`, before Ray
starts. A failure during the work itself is not caught here: its traceback,
with Ray's re-raised cause, is the message.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from raydistill.errors import ConfigError
from raydistill.export.config import ExportError
from raydistill.output.storage import StorageError
from raydistill.ray_config import RayConfig, ray_checks

VERBOSE_FLAGS = ("-v", "--verbose")
LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"
# The inputs a command refuses before any work, each shown as one line (exit code 2).
REFUSED = (ConfigError, StorageError, ExportError)
# Libraries the checks before Ray use; their INFO lines say nothing to a user.
QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "filelock", "fsspec", "httpx")


def split_verbose(args: list[str]) -> tuple[list[str], bool]:
    """``args`` without ``-v``/``--verbose``, and whether one was there.

    >>> split_verbose(["conf=local", "-v"])
    (['conf=local'], True)
    """
    rest = [a for a in args if a not in VERBOSE_FLAGS]
    return rest, len(rest) != len(args)


def wants_help(args: list[str]) -> bool:
    """Whether ``-h``/``--help`` is among ``args``.

    >>> wants_help(["out/run", "--help"]), wants_help(["conf=local"])
    (True, False)
    """
    return any(a in ("-h", "--help") for a in args)


def setup_console(verbose: bool = False) -> None:
    """Log raydistill's INFO lines to stderr (DEBUG and everything else too with ``verbose``)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    if not verbose:
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)


def start(argv: list[str] | None, help_text: str | None) -> tuple[list[str], bool] | None:
    """A command's ``(arguments, verbose)``, or None once ``--help`` has printed ``help_text``.

    The arguments are ``argv`` (``sys.argv[1:]`` when None) without ``-v``. Sets up the
    console's logging (:func:`setup_console`) unless it printed the help.
    """
    args, verbose = split_verbose(sys.argv[1:] if argv is None else argv)
    if wants_help(args):
        print(help_text or "")
        return None
    setup_console(verbose)
    return args, verbose


def refuse(command: str, problem: object) -> int:
    """Show why ``command`` cannot run, as one line on stderr; the exit code (2)."""
    print(f"raydistill {command}: {problem}", file=sys.stderr)
    return 2


def split_ray_keys(args: list[str]) -> tuple[list[str], list[str]]:
    """``(other args, ray.* overrides)``, for commands whose own keys are not a run config.

    >>> split_ray_keys(["out/run", "format=openai", "ray.num_cpus=4"])
    (['out/run', 'format=openai'], ['ray.num_cpus=4'])
    """
    ray_keys = [a for a in args if a.startswith("ray.") and "=" in a]
    return [a for a in args if a not in ray_keys], ray_keys


def ray_section(overrides: list[str]) -> RayConfig:
    """The ``ray`` section from ``ray.KEY=value`` overrides, checked as a run's is.

    >>> ray_section(["ray.num_cpus=4"]).num_cpus
    4
    >>> ray_section(["ray.num_cpu=4"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    raydistill.errors.ConfigError: config key 'ray.num_cpu': Key 'num_cpu' not in 'RayConfig'...
    """
    merged: Any = OmegaConf.structured({"ray": RayConfig})
    try:
        for override in overrides:
            key, _, text = override.partition("=")
            OmegaConf.update(merged, key, OmegaConf.from_dotlist([f"v={text}"])["v"],
                             merge=True)
        plain: Any = OmegaConf.to_object(merged)
        section: RayConfig = plain["ray"]
    except OmegaConfBaseException as exc:
        bad_key = getattr(exc, "full_key", None)
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config key {bad_key!r}: {first}" if bad_key else first) from None
    for ok, key, problem in ray_checks(section):
        if not ok:
            raise ConfigError(f"config key {key!r} {problem}")
    return section
