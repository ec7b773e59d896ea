"""The one way raydistill starts or joins Ray, and what of Ray its console shows.

Every command (:mod:`raydistill.cli`) sets up the console first
(:func:`raydistill.cli.console.setup_console`) and calls :func:`init_ray` when it
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
import sys
from typing import Any

import ray

from raydistill.ray_config import RayConfig

logger = logging.getLogger(__name__)

# Ray Data's progress logger when stdout is not a terminal (a terminal gets bars).
PROGRESS_LOGGER = "ray.data._internal.progress.logging_progress"
_OPERATOR_LINE = re.compile(r"^(?P<name>\S.*): (?P<done>\d+)/(?P<total>\d+|\?)$")
# Ray's token-authentication set-up, which warns at every start of a local cluster.
AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
# Where the driver's one "constructor arguments in the object store" line goes.
NATIVE_LINES_FILE = "raydistill-driver-native.log"


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
        logging.getLogger(AUTH_LOGGER).addFilter(AuthDefaultNotice())
        ray.init(address="local", num_cpus=local_cpus(ray_cfg), log_to_driver=verbose)
    if not verbose:
        quiet_ray_data()
        spend_constructor_args_line()
        logger.info("Ray's and vLLM's own logs: %s (-v shows them here)", ray_logs_dir())


def ray_logs_dir() -> str:
    """The log directory of this driver's Ray session."""
    import ray

    node: Any = getattr(ray._private.worker, "_global_node", None)
    if node is not None:
        return str(node.get_logs_dir_path())
    return "/tmp/ray/session_latest/logs"  # Ray's default temp dir


class AuthDefaultNotice(logging.Filter):
    """Drops Ray's notice that a new local cluster uses token authentication (its default).

    Ray 2.60 turns token authentication on for every new local cluster (the token in
    ``~/.ray/auth_token``, made once) and warns so at each start unless
    ``RAY_AUTH_MODE`` is set. Setting the variable in this process is too late (Ray's
    C++ config has read it at import, and the driver then cannot reach its own GCS),
    and the cluster should stay authenticated: the notice is dropped, and every other
    line of Ray's authentication (a missing or wrong token) still shows.

    >>> notice = logging.LogRecord(AUTH_LOGGER, logging.WARNING, "", 0,
    ...     "Token authentication is enabled for this Ray cluster. Set ...", None, None)
    >>> AuthDefaultNotice().filter(notice)
    False
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the default-on notice only."""
        return not record.getMessage().startswith(
            "Token authentication is enabled for this Ray cluster")


class _ArgsLineSpender:
    """An actor created only to make Ray log its once-per-process line (never used)."""

    def __init__(self, arg: Any) -> None:
        self.arg = arg


def spend_constructor_args_line() -> None:
    """Write Ray's ``core_worker`` line about actor constructor arguments to a log file.

    Ray Data hands every actor pool's workers their function and ``DataContext``
    as object refs, with ``max_restarts=-1`` (a dead actor is restarted). For
    any such actor Ray's core worker logs an ERROR line, once per process, that
    a restart fails if those objects are lost (ray-project/ray#53727; #57733:
    any ``map_batches`` with a class). Ray Data holds both refs for the
    operator's life, so restarts find them (the fault tests kill actors and see
    them come back): the line asks nothing of a user. It is written by C++
    straight to file descriptor 2, past Python's logging, so this spends the
    "once": one throwaway actor whose argument is a ref and which may restart
    is created while descriptor 2 points to :data:`NATIVE_LINES_FILE` in Ray's
    log directory, then killed. Every other line of Ray's reaches the console.
    """
    path = os.path.join(ray_logs_dir(), NATIVE_LINES_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    console = os.dup(2)
    try:
        with open(path, "a") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                actor: Any = ray.remote(_ArgsLineSpender).options(
                    max_restarts=1, num_cpus=0).remote(ray.put(None))
            finally:
                os.dup2(console, 2)
    finally:
        os.close(console)
    ray.kill(actor)


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

