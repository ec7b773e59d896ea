"""The one way raydistill starts or joins Ray, and what its console shows.

Every entry point calls :func:`setup_console` first and :func:`init_ray` when it
needs Ray. Without ``-v``/``--verbose`` the console shows raydistill's own lines,
Ray Data's progress (one line per report) and warnings; the Ray workers' output
(vLLM's engine logs among it) and Ray Data's operator logs stay in Ray's log
directory, named at start. A failure still reaches the console: Ray re-raises a
task's exception, with its cause, in the driver.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import ray

from raydistill.ray_config import RayConfig

logger = logging.getLogger(__name__)

VERBOSE_FLAGS = ("-v", "--verbose")
LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"
# Ray Data's progress logger when stdout is not a terminal (a terminal gets bars).
PROGRESS_LOGGER = "ray.data._internal.progress.logging_progress"
_OPERATOR_LINE = re.compile(r"^(?P<name>\S.*): (?P<done>\d+)/(?P<total>\d+|\?)$")


def split_verbose(args: list[str]) -> tuple[list[str], bool]:
    """``args`` without ``-v``/``--verbose``, and whether one was there.

    >>> split_verbose(["conf=local", "-v"])
    (['conf=local'], True)
    """
    rest = [a for a in args if a not in VERBOSE_FLAGS]
    return rest, len(rest) != len(args)


def setup_console(verbose: bool = False) -> None:
    """Log raydistill's INFO lines to stderr (DEBUG and everything else too with ``verbose``)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    if not verbose:
        # Libraries the checks before Ray use; their INFO lines say nothing to a user.
        for name in ("botocore", "boto3", "urllib3", "filelock", "fsspec"):
            logging.getLogger(name).setLevel(logging.WARNING)


def local_cpus(ray_cfg: RayConfig) -> int:
    """Logical CPUs of a new local cluster: ``ray.num_cpus``, else twice the cores (>= 8).

    More than the cores, so that actor pools cannot reserve every CPU and starve
    the read tasks (a 2-core stall).
    """
    return ray_cfg.num_cpus or max(8, 2 * (os.cpu_count() or 1))


def init_ray(ray_cfg: RayConfig, verbose: bool = False) -> None:
    """Join the cluster named by ``ray.address``/``RAY_ADDRESS``, else start a local one.

    Does nothing when Ray is already initialised (a test's cluster, a caller's).
    """
    if ray.is_initialized():
        return
    address = ray_cfg.address or os.environ.get("RAY_ADDRESS")
    logger.info("%s Ray", f"joining the cluster at {address} with" if address else
                f"starting a local cluster ({local_cpus(ray_cfg)} logical CPUs) with")
    if address:
        ray.init(address=address, log_to_driver=verbose)
    else:
        ray.init(address="local", num_cpus=local_cpus(ray_cfg), log_to_driver=verbose)
    if not verbose:
        quiet_ray_data()
        logger.info("Ray's and vLLM's own logs: %s (-v shows them here)", ray_logs_dir())


def ray_logs_dir() -> str:
    """The log directory of this driver's Ray session."""
    import ray

    node: Any = getattr(ray._private.worker, "_global_node", None)
    if node is not None:
        return str(node.get_logs_dir_path())
    return "/tmp/ray/session_latest/logs"  # Ray's default temp dir


def quiet_ray_data() -> None:
    """Ray Data's console: warnings, the run's end, and its progress report as one line."""
    import ray.data  # noqa: F401 - configures the "ray.data" logger and its handlers

    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler):
            handler.addFilter(ProgressLines())


class ProgressLines(logging.Filter):
    """Passes warnings and a one-line summary of each Ray Data progress report.

    Ray Data logs a report of ~20 lines every 10 s when stdout is not a terminal;
    this keeps one line of ``operator done/total`` per report.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the records the console shows (it may rewrite a report's last line)."""
        if record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        if record.name != PROGRESS_LOGGER:
            return message.startswith("✔") or "execution finished" in message
        if message.startswith("======= Running Dataset"):
            self.parts = []
        elif message and set(message) == {"="}:
            record.msg, record.args = "progress: " + " | ".join(self.parts), ()
            return bool(self.parts)
        elif (match := _OPERATOR_LINE.match(message)) and not message.startswith("Total"):
            self.parts.append(f"{short_name(match['name'])} {match['done']}/{match['total']}")
        return False


def short_name(operator: str) -> str:
    """A Ray Data operator's name without its arguments.

    >>> short_name("MapBatches(VLLMTeacher)"), short_name("StreamingRepartition[n=16]")
    ('VLLMTeacher', 'StreamingRepartition')
    """
    name = operator.split("[", 1)[0]
    if name.startswith("MapBatches(") and name.endswith(")"):
        name = name[len("MapBatches("):-1]
    return name


def configure_data(ray_cfg: RayConfig) -> None:
    """Apply the ``ray.*`` keys Ray Data reads from the driver, before a plan is built.

    Ray Data reads each Parquet directory's footers on a pool of actors started
    per read, 32 by default: ~25 CPU-seconds of worker start-up per read, which
    on a 2-core machine was a third of the cores during generation. The pool is
    sized in the driver when a read is planned, from this variable.
    """
    os.environ["RAY_DATA_PARQUET_FOOTER_NUM_ACTORS"] = str(ray_cfg.parquet_footer_readers)

