"""The verify-only command refuses bad config before Ray starts."""

from __future__ import annotations

import pytest

from raydistill.cli import verify
from raydistill.config import ConfigError


def test_bad_keys_fail_naming_the_key():
    with pytest.raises(ConfigError, match="columns.respnse"):
        verify.load(["columns.respnse=x"])
    with pytest.raises(ConfigError, match="verify.code.cpu_s"):
        verify.load(["verify.code.cpu_s=0"])
    with pytest.raises(ConfigError, match="judge.policy"):
        verify.load(["judge.policy=always"])
    assert verify.load(["columns.domain=kind"]).columns.domain == "kind"


def test_cli_refuses_bad_config_before_ray(tmp_path, capsys):
    assert verify.main([str(tmp_path / "in.jsonl"), str(tmp_path / "o.jsonl"), "verify.x=1"]) == 2
    assert "verify.x" in capsys.readouterr().err
    assert verify.main([str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
