"""The README's report and verify commands run for real on the shared demo run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pads
import pytest

from raydistill import cli
from tests.conftest import shell_blocks

DEMO_OUTPUT = "out/local"  # conf/local.yaml's output.uri: where `make demo` writes


# The README's shell commands (tests/unit/cli/test_readme.py checks each one's parsing).
COMMANDS = [words for block in shell_blocks() for words in block]


@pytest.mark.slow
def test_report_and_verify_as_printed_on_the_demo_run(demo_run, tmp_path, capsys):
    report = next(c for c in COMMANDS if c[:2] == ["raydistill", "report"])
    assert report == ["raydistill", "report", DEMO_OUTPUT]
    assert cli.main(["report", str(demo_run.uri)]) == 0
    assert capsys.readouterr().out.strip() == f"{demo_run.uri}/report.html"

    verify = next(c for c in COMMANDS if c[:2] == ["raydistill", "verify"])
    source, target = verify[2:4]
    assert source.startswith(DEMO_OUTPUT + "/") and target.startswith("out/")
    rechecked = tmp_path / Path(target).name
    assert cli.main(["verify", source.replace(DEMO_OUTPUT, str(demo_run.uri)), str(rechecked),
                     *verify[4:]]) == 0
    rows = pads.dataset(demo_run.uri / "all", format="parquet").count_rows()
    assert f"verified {rows} rows" in capsys.readouterr().out
