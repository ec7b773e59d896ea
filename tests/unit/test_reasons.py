"""The README's table of reason codes is ``reasons.CODES``."""

from __future__ import annotations

import re

from raydistill.reasons import CODES, FILTERED_PREFIX
from tests.support.paths import REPO

README = REPO / "README.md"


def test_readme_lists_every_code_with_its_verdict_and_meaning():
    rows = re.findall(r"^\| `([^`]+)` \| (pass|fail|error) \| (.+) \|$",
                      README.read_text(), re.M)
    listed = {code: (status, meaning) for code, status, meaning in rows}
    assert listed.pop(f"{FILTERED_PREFIX}<name>")[0] == "fail"
    assert listed == {code: (status, meaning) for code, (status, meaning) in CODES.items()}
