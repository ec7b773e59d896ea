"""What counts as a line a user cannot act on (live: tests/integration/test_console.py)."""

from __future__ import annotations

from tests.support.console import unactionable


def test_unactionable_finds_the_lines_the_demo_used_to_print():
    printed = [
        "[2026-12-07 18:29:59,623 E 8309 8309] core_worker.cc:2465: Actor with class name: "
        "'MapWorker(MapBatches(VLLMTeacher))' and ID: '4f' has constructor arguments in the "
        "object store and max_restarts > 0.",
        "2026-12-07 18:29:54,370\tWARNING authentication_token_setup.py:85 -- Token "
        "authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out.",
        "2026-12-07 18:30:00 raydistill.pipeline: staged 64 problems",
    ]
    assert unactionable(printed) == printed[:2]
