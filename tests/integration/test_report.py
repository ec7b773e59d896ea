"""The run report: rendered for a real local run, remade by `raydistill report` on S3, and
looked at in headless Chromium (a screenshot that must show more than a blank page).
Rendering alone: tests/unit/observe/test_report.py."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from tests.support.paths import REPO

ROOT = REPO










@pytest.fixture(scope="module")
def local_run(demo_run):
    """The shared real run (conftest): 24 problems + 5 rows of which 4 are bad, n=3."""
    return Path(demo_run.cfg.output.uri), demo_run.summary, demo_run.source


@pytest.mark.slow
def test_report_of_a_real_run(local_run):
    out, summary, source = local_run
    html = (out / "report.html").read_text()
    # Self-contained: nothing fetched (the SVG namespace is an identifier, not a fetch).
    assert not re.search(r"(src|href)\s*=|<link|@import|url\(", html)
    for section in ("Funnel", "pass@k per problem", "Reasoning and answer lengths", "Verdicts",
                    "Throughput over time", "Cost"):
        assert f"<h2>{section}" in html
    assert html.count("<svg") >= 8
    # The numbers of the run, as summary.json has them.
    assert f"<b>{summary['verified']}</b><span>verified samples</span>" in html
    assert f"<b>{summary['pass_rate']:.1%}</b><span>pass rate</span>" in html
    assert f"<td>{source}</td><td>24</td><td>24</td><td>72</td>" in html
    assert f"<td>{source}_bad</td><td>5</td><td>1</td><td>3</td>" in html
    # Truncated samples fail too, in their own row (the tiny teacher at T=1 sometimes
    # runs past max_tokens).
    wrong = summary["failed"] - summary["truncated"]
    assert f"<td>wrong answer</td><td>fail</td><td>{wrong}</td>" in html
    if summary["truncated"]:
        assert f"<td>truncated</td><td>fail</td><td>{summary['truncated']}</td>" in html
    assert "<td>bad input</td><td>error</td><td>3</td>" in html
    # pass@k for the powers of 2 up to n=3.
    assert "<td>pass@2</td>" in html.replace("<th>", "<td>").replace("</th>", "</td>")


@pytest.mark.slow
def test_report_tool_on_s3(local_run, s3_server):
    out, summary, _ = local_run
    s3 = pafs.S3FileSystem(endpoint_override=s3_server.split("://")[1], scheme="http",
                           region="us-east-1")
    pafs.copy_files(str(out), "raydistill-test/report-run", destination_filesystem=s3)
    s3.delete_file("raydistill-test/report-run/report.html")
    done = subprocess.run(
        [sys.executable, "-m", "raydistill.cli", "report", "s3://raydistill-test/report-run",
         "--s3-endpoint", s3_server, "--price", "CPU=0.04"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "s3://raydistill-test/report-run/report.html"
    html = s3.open_input_stream("raydistill-test/report-run/report.html").read().decode()
    assert f"<b>{summary['verified']}</b><span>verified samples</span>" in html
    assert "$" in html.split("<h2>Cost")[1]
    missing = subprocess.run([sys.executable, "-m", "raydistill.cli", "report",
                              "s3://raydistill-test/nothing-here", "--s3-endpoint", s3_server],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert missing.returncode == 2 and "no finished run" in missing.stderr


@pytest.mark.slow
def test_report_screenshot_in_chromium(local_run, tmp_path):
    from PIL import Image

    out, _, _ = local_run
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by `make setup` (apt package chromium)"
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,2600", f"--screenshot={shot}",
                    (out / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2600)
    colours = image.getcolors(maxcolors=1 << 20) or []
    # Text and the charts' verdict colours drawn, not a blank or an error page.
    assert len(colours) > 50
    present = {rgb for _, rgb in colours}
    assert (0, 158, 115) in present and (213, 94, 0) in present  # pass green, fail red bars
    shutil.copy(shot, out / "report.png")  # kept next to the run for a human to look at
