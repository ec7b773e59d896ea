"""The funnel line and metric hooks, without a run."""

from __future__ import annotations

import subprocess
import sys

from raydistill.observe.metrics import FunnelCounter
from raydistill.observe.progress import format_funnel


def test_funnel_line_format():
    line = format_funnel({"problems_read": 10, "problems_generated": 10, "samples": 40,
                          "samples_pass": 10, "samples_fail": 29, "samples_error": 1,
                          "error_rows": 1}, 65.2, 2300.4)
    assert line == ("funnel: 10 read -> 10 generated (40 samples, 2300 tok/s) -> 40 verified:"
                    " 10 pass / 29 fail / 1 error (25.0%) | 1 error rows | 65 s")


OUTSIDE_RAY = """
from raydistill.observe.metrics import TeacherMetrics, VerifierMetrics
teacher, verifier = TeacherMetrics("t"), VerifierMetrics()
assert teacher.series is None and verifier.series is None
teacher.problem({"samples": [{"completion_tokens": 3}], "prompt_tokens": 2})
teacher.problem({"samples": [], "input_error": "missing field 'answer'"})
verifier.sample({"domain": "math", "source": "s"}, "error", "verifier_error", 0.1)
teacher.flush()
verifier.flush()
assert not teacher.funnel.pending and teacher.funnel.handle is None
import ray
assert not ray.is_initialized(), "a hook started Ray"
"""


def test_hooks_outside_ray_count_nothing_and_do_not_fail():
    # The verifier actor also runs in plain unit tests and tools without Ray; a fresh
    # interpreter, because this session's tests may have started Ray already.
    done = subprocess.run([sys.executable, "-c", OUTSIDE_RAY], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_funnel_counter_sums_and_resets():
    counter = FunnelCounter()
    counter.add({"samples": 4, "samples_pass": 1})
    counter.add({"samples": 4, "error_rows": 1})
    assert counter.get() == {"samples": 8, "samples_pass": 1, "error_rows": 1}
    counter.reset()
    assert counter.get() == {}
