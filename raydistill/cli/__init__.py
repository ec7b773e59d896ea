"""The ``raydistill`` command: one home for every command.

    raydistill run conf=local [key=value ...] [-v]   # = python -m raydistill.run
    raydistill verify INPUT OUTPUT [key=value ...]   # = python -m raydistill.verify
    raydistill report URI [--price GPU=3.9]
    raydistill serve [--port 8000] [vLLM flags ...]
    raydistill export URI format=NAME [key=value ...]  # = python -m raydistill.export
    raydistill loop conf=NAME [key=value ...]        # = python -m raydistill.loop
    raydistill eval conf=NAME [key=value ...]        # = python -m raydistill.eval
    raydistill compare URI [URI ...] [--baseline URI] --out DIR
    raydistill select RUN OUT [key=value ...]

Each command is a module ``raydistill/cli/NAME.py`` with ``main(argv) -> int``,
imported only when it is used; what they share (``-v``, the console's logging,
``ray.*`` keys, a refusal as one line and exit code 2) is
:mod:`raydistill.cli.console`. A new command (``plan``, ``select``) is one such
module and one row of :data:`COMMANDS`; ``raydistill
--help`` lists every row. ``python -m raydistill.run`` and its siblings are
shims over these modules.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

from raydistill.config import REPO_CONF_DIR, Config

# name -> (entry module with main(argv) -> int, one line for --help).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("raydistill.cli.run",
            "generate, verify and publish a dataset (conf=NAME key=value ...)"),
    "plan": ("raydistill.cli.plan", "a pilot on a sample of the problems, then the whole run's "
             "tokens, cost and time (conf=NAME ...)"),
    "verify": ("raydistill.cli.verify",
               "verify an existing JSONL/Parquet dataset (INPUT OUTPUT ...)"),
    "report": ("raydistill.cli.report", "(re)make <uri>/report.html of a run (URI)"),
    "serve": ("raydistill.cli.serve", "a local OpenAI-compatible vLLM server for a teacher"),
    "export": ("raydistill.cli.export", "write a finished run's traces in a trainer's format "
               "(URI format=NAME ...)"),
    "loop": ("raydistill.cli.loop", "self-bootstrapping rounds: sample, verify, select, train "
             "(conf=NAME ...)"),
    "eval": ("raydistill.cli.eval", "evaluate the teacher model on benchmarks (conf=NAME ...)"),
    "compare": ("raydistill.cli.compare", "finished evaluations side by side "
                "(URI [URI ...] --out DIR)"),
    "select": ("raydistill.cli.select", "a problem list from a run's problems/ table, a source "
               "for the next run (RUN OUT key=value ...)"),
}


def first_comment(path: Path) -> str:
    """The first ``#`` line of a conf file, without the ``#``."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def conf_files() -> list[Path]:
    """The conf files ``conf=NAME`` finds: the working directory's ``conf/``, else the repo's."""
    found: dict[str, Path] = {}
    for conf_dir in (REPO_CONF_DIR, Path.cwd() / "conf"):
        found.update({p.stem: p for p in sorted(conf_dir.glob("*.yaml"))})
    return [found[name] for name in sorted(found)]


def usage() -> str:
    """The text of ``raydistill --help``: commands, confs and config sections."""
    lines = ["usage: raydistill COMMAND [-v] [args ...]   (raydistill COMMAND --help for one)",
             "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join([*lines, "", *conf_help()])


def conf_help() -> list[str]:
    """Lines naming the conf files (with their first comment) and the config sections."""
    lines = ["confs (conf=NAME; an overlay starts with `base: NAME`):"]
    lines += [f"  {p.stem:<14} {first_comment(p)}" for p in conf_files()]
    lines += ["", "config sections (key=value overrides, e.g. sampling.n=8; every key: "
              "docs/config-reference.md):"]
    lines += [f"  {f.name:<10} {f.metadata['doc']}" for f in dataclasses.fields(Config)]
    lines += ["", "-v/--verbose: Ray's and vLLM's own logs on the console too "
              "(else they go to files, named at start)."]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``raydistill COMMAND args...`` to the command's ``main(args)``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"raydistill: no command {name!r}; commands: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"raydistill: command {name!r} is not in this install "
                  f"(no module {module_name})", file=sys.stderr)
            return 2
        raise
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    sys.exit(main())
