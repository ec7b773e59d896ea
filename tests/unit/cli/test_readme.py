"""Every shell command the README prints, checked as printed (docs' commands parsed too).

- `raydistill --help` runs for real; `raydistill report` and `raydistill verify` run
  for real on the shared demo run (their `out/local` is where `make demo` writes);
- `make ...` lines: each target exists and `make -n` accepts it, and the demo's recipe
  is the command `tests/integration/test_job_submit.py` submits as printed (the demo end to end);
- every other `raydistill ...` / `python -m raydistill.<command>` line is parsed by the
  command it calls: its conf loaded with its overrides and checked as before Ray
  starts, its positional arguments and options accepted;
- the cluster quick start is what `tests/integration/test_job_submit.py` runs as printed, and the
  `raydistill serve` pair what the `vllm_server` fixture and
  `tests/integration/test_http_teacher.py` run.

A command this test does not know fails it: a new README command needs a check here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from raydistill import cli
from raydistill.cli import compare as compare_command
from raydistill.cli import eval as eval_command
from raydistill.cli import export as export_command
from raydistill.cli import plan as plan_command
from raydistill.cli import report as report_command
from raydistill.cli import run as run_command
from raydistill.cli import serve as serve_command
from raydistill.cli import verify as verify_command
from raydistill.cli.console import ray_section, split_ray_keys, split_verbose
from raydistill.config import load
from raydistill.config.loader import parse_overrides
from raydistill.export.plan import options
from raydistill.loop.config import loop_checks
from raydistill.sources.select import options as select_options
from tests.conftest import README, readme_commands, shell_blocks
from tests.support.paths import REPO

DOCS = REPO / "docs"
DEMO_OUTPUT = "out/local"  # conf/local.yaml's output.uri: where `make demo` writes
CLUSTER = readme_commands("source .venv/bin/activate")
SERVE_PAIR = readme_commands("raydistill serve --port 8000")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def command_of(words: list[str]) -> tuple[str, list[str]] | None:
    """``(raydistill command, its arguments)`` of a shell command, or None for another program.

    >>> command_of(["DEEPSEEK_API_KEY=sk-...", "python", "-m", "raydistill.run", "conf=x"])
    ('run', ['conf=x'])
    >>> command_of([".venv/bin/raydistill", "export", "out/local", "format=verl"])
    ('export', ['out/local', 'format=verl'])
    >>> command_of(["ray", "stop"]) is None
    True
    """
    while words and ENV_ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return None
    program = Path(words[0]).name
    if program.startswith("python") and words[1:2] == ["-m"] and words[2].startswith(
            "raydistill."):
        return words[2].removeprefix("raydistill."), words[3:]
    if program == "raydistill" and not words[0].endswith("/"):
        return (words[1], words[2:]) if len(words) > 1 else ("--help", [])
    return None


def check(name: str, args: list[str]) -> None:
    """Parse ``raydistill NAME ARGS`` as the command does, up to where Ray would start."""
    args, _ = split_verbose(args)
    if name in ("--help", "-h"):
        assert cli.main([name]) == 0
    elif name == "run":
        run_command.check_sources(load(args))
    elif name == "plan":
        _, rest = plan_command.parse(args)
        run_command.check_sources(load(rest))
    elif name == "loop":
        cfg = load(args)
        assert [key for ok, key, _ in loop_checks(cfg.loop, cfg.source.datasets) if not ok] == []
    elif name == "verify":
        positional = [a for a in args if "=" not in a]
        assert len(positional) == 2, args
        verify_command.load([a for a in args if "=" in a])
    elif name == "export":
        rest, ray_keys = split_ray_keys(args)
        ray_section(ray_keys)
        _, fmt, given = export_command.parse(rest)
        options(fmt, given)
    elif name == "report":
        report_command.parser().parse_args(args)
    elif name == "serve":
        assert serve_command.command(args)[-len(args):] == args
    elif name == "eval":
        eval_command.check_inputs(load(args))
    elif name == "compare":
        compare_command.parser().parse_args(args)
    elif name == "select":
        assert len([a for a in args if "=" not in a]) == 2, args
        select_options(parse_overrides(a for a in args if "=" in a))
    else:
        pytest.fail(f"no check for the command `raydistill {name}`")


def readme_shell_commands() -> list[list[str]]:
    return [words for block in shell_blocks() for words in block]


def test_the_readme_has_the_two_commands_and_one_example_per_command():
    commands = readme_shell_commands()
    assert ["make", "setup", "demo"] in commands and ["make", "test"] in commands
    named = {c[0] for c in map(command_of, commands) if c}
    assert named >= set(cli.COMMANDS), sorted(set(cli.COMMANDS) - named)
    assert len(README.read_text().splitlines()) <= 250


@pytest.mark.parametrize("words", readme_shell_commands(), ids=shlex.join)
def test_every_readme_command_is_checked(words):
    if words in CLUSTER:  # run as printed by tests/integration/test_job_submit.py
        return
    if words[0] == "make":
        targets = words[1:]
        made = subprocess.run(["make", "-n", *targets], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        return
    command = command_of(words)
    assert command is not None, f"README command not checked by this test: {shlex.join(words)}"
    if words in SERVE_PAIR:  # run by the vllm_server fixture and test_http_teacher_pipeline
        assert words == SERVE_PAIR[0] or command[0] == "run"
    check(*command)


def makefile_recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text().splitlines()
    start = lines.index(f"{target}:")
    return shlex.split(lines[start + 1].strip())


def test_the_demo_is_the_job_the_cluster_test_submits():
    # `make demo`'s recipe, with the venv's python, is the command test_job_submit
    # runs end to end through `ray job submit ... -- COMMAND` (its table is checked there).
    demo = command_of(makefile_recipe("demo"))
    submit = next(c for c in CLUSTER if c[:3] == ["ray", "job", "submit"])
    assert demo == command_of(submit[submit.index("--") + 1:]) == ("run", ["conf=local"])
    assert load(["conf=local"]).output.uri == DEMO_OUTPUT
    assert makefile_recipe("test")[1:] == ["-m", "pytest"]


def docs_commands() -> list[list[str]]:
    """Commands of raydistill printed in docs/ (code blocks), not usage lines."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        fenced = False
        for line in page.read_text().replace("\\\n", " ").splitlines():
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            stripped = line.strip()
            if not (fenced or line.startswith("    ")) or "[" in stripped or re.search(
                    r"\b(NAME|URI|INPUT|OUTPUT|FORMAT|RUN)\b", stripped):
                continue  # prose, or a usage line: placeholders, not a command
            try:
                words = shlex.split(stripped, comments=True)
            except ValueError:
                continue
            if words and command_of(words):
                found.append(words)
    return found


@pytest.mark.parametrize("words", docs_commands(), ids=shlex.join)
def test_docs_commands_parse(words):
    check(*command_of(words))


