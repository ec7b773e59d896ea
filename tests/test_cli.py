"""The `raydistill` console script: its dispatch table, --help, missing commands."""

import importlib
import tomllib
from pathlib import Path

from raydistill import cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_console_script_is_the_cli_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["raydistill"].partition(":")
    assert getattr(importlib.import_module(module), name) is cli.main


def test_help_lists_commands_confs_and_sections(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("run", "verify", "report", "serve", "export", "loop", "local", "gsm8k_local",
                 "The local demo", "sampling", "Decoding parameters"):
        assert word in out


def test_commands_dispatch_to_their_main(capsys):
    assert cli.main(["run", "--help"]) == 0
    assert "python -m raydistill.run" in capsys.readouterr().out
    assert cli.main(["serve", "--help"]) == 0
    assert "--reasoning-parser deepseek_r1" in capsys.readouterr().out


def test_an_unknown_or_absent_command_fails_clearly(capsys, monkeypatch):
    assert cli.main(["nope"]) == 2
    assert "no command 'nope'" in capsys.readouterr().err
    monkeypatch.setitem(cli.COMMANDS, "ghost", ("raydistill.no_such_module", "absent"))
    assert cli.main(["ghost"]) == 2
    assert "not in this install (no module raydistill.no_such_module)" in capsys.readouterr().err


def test_every_command_module_has_main_or_is_absent():
    for name, (module_name, _) in cli.COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            assert name in ("export", "loop"), name  # written by other issues
            continue
        assert callable(module.main), name
