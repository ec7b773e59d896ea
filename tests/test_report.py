"""The run report: rendered for a real local run, remade by `raydistill report` on S3, and
looked at in headless Chromium (a screenshot that must show more than a blank page)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from raydistill.observe.report import pass_at_k, render, verdict_category

ROOT = Path(__file__).resolve().parent.parent


def sample(problem_id, idx, verdict, detail, reasoning="think " * 10, solution="42",
           source="s", domain="math", tokens=40, at=1000.0, reason=None):
    return {"problem_id": problem_id, "sample_idx": idx, "source": source, "domain": domain,
            "verdict": verdict, "reason": reason, "verdict_detail": detail, "prompt_tokens": 10,
            "completion_tokens": tokens, "generated_at": at, "generation_seconds": 2.0,
            "response_chars": len(reasoning) + len(solution),
            "reasoning_chars": len(reasoning), "solution_chars": len(solution)}


def test_render_unit():
    rows = [sample("a", 0, "pass", "42 == 42"), sample("a", 1, "fail", "41 != 42"),
            sample("b", 0, "fail", "truncated: hit max_tokens", solution="", reason="truncated"),
            sample("b", 1, "error", "verifier crashed: <script>alert(1)</script>"),
            {**sample("c", 0, "error", "input: missing field 'answer'", reason="input_error"),
             "response_chars": None,
             "reasoning_chars": None, "solution_chars": None, "completion_tokens": 0,
             "generated_at": None}]
    html = render(pa.Table.from_pylist(rows), {"problems_read": 3}, "s3://b/run")
    assert "<script>" not in html and "&lt;script&gt;" in html
    for text in ("wrong answer", "truncated", "bad input", "verifier error", "pass@1", "pass@2"):
        assert text in html
    # pass@1 over a (1 of 2) and b (0 of 2) = 25%; pass@2 = 50%.
    assert re.search(r"<td>all</td><td>2</td><td>25.0%</td><td>50.0%</td>", html)
    assert html.count("<svg") >= 8


def test_render_waves():
    waves = [{"wave": 0, "n": 2, "offset": 0, "problems": 3, "samples": 6, "verified": 2,
              "completion_tokens": 600, "newly_solved": 2},
             {"wave": 1, "n": 4, "offset": 2, "problems": 1, "samples": 4, "verified": 0,
              "completion_tokens": 400, "newly_solved": 0}]
    rows = [sample("a", 0, "pass", "42 == 42")]
    html = render(pa.Table.from_pylist(rows), {"problems_read": 3, "waves": waves}, "run")
    assert ("<td>0</td><td>2</td><td>3</td><td>6</td><td>2</td><td>33.3%</td><td>600</td>"
            "<td>2</td><td>2</td><td>300</td>") in html
    assert "<td>1</td><td>4</td><td>1</td><td>4</td><td>0</td><td>0.0%</td>" in html
    assert "Adaptive sampling: waves" not in render(pa.Table.from_pylist(rows), {}, "run")


def test_verdict_categories():
    # From the reason code alone (the detail text is never parsed).
    assert verdict_category("fail", "timeout") == "timeout"
    assert verdict_category("fail", "no_answer") == "no answer"
    assert verdict_category("error", "verifier_error") == "verifier error"
    assert verdict_category("error", None) == "verifier error"  # a row without a code
    assert pass_at_k(8, 2, 4) == pytest.approx(1 - (6 * 5 * 4 * 3) / (8 * 7 * 6 * 5))


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
