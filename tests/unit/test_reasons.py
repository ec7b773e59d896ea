"""The table of reason codes in docs/output.md is ``reasons.CODES``."""

from __future__ import annotations

import re

from raydistill.reasons import CODES, FILTERED_PREFIX
from tests.support.paths import REPO

PAGE = REPO / "docs" / "output.md"


def test_the_output_page_lists_every_code_with_its_verdict_and_meaning():
    rows = re.findall(r"^\| `([^`]+)` \| (pass|fail|error) \| (.+) \|$",
                      PAGE.read_text(), re.M)
    listed = {code: (status, meaning) for code, status, meaning in rows}
    assert listed.pop(f"{FILTERED_PREFIX}<name>")[0] == "fail"
    assert listed == {code: (status, meaning) for code, (status, meaning) in CODES.items()}
