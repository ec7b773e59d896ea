"""docs/config-reference.md is generated from the config dataclasses and kept current."""

from __future__ import annotations

import dataclasses

import pytest

from raydistill.config import Config, reference
from raydistill.keys import RESULT, key, role_of
from raydistill.output.manifest import fingerprint


def test_the_reference_page_is_current():
    assert reference.PAGE.read_text() == reference.render(), (
        "docs/config-reference.md is stale: run python -m raydistill.config.reference")
    assert reference.main(["--check"]) == 0


def test_a_key_without_documentation_fails_the_generation():
    @dataclasses.dataclass
    class Bare:
        documented: int = key(1, "Documented.")
        bare: int = 2

    with pytest.raises(ValueError, match="Bare.bare has no documentation"):
        reference._rows(Bare)
    with pytest.raises(ValueError, match="documentation"):
        key(1, "")


def test_roles_decide_the_fingerprint():
    cfg = Config()
    cfg.output.uri = "out/x"
    keys = fingerprint(cfg)
    assert role_of(cfg, "teacher.replicas") != RESULT and "teacher.replicas" not in keys
    assert role_of(cfg, "teacher.dtype") == RESULT and "teacher.dtype" in keys
    # A key below a map belongs to the map's field; judge.teacher follows its backend.
    assert role_of(cfg, "teacher.engine_kwargs.enforce_eager") == RESULT
    assert role_of(cfg, "judge.teacher.max_num_seqs") != RESULT


def test_a_fingerprint_stored_with_the_other_backends_keys_still_matches():
    from raydistill.config import load
    from raydistill.output.manifest import comparable, diff_keys

    cfg = load(["conf=local", "output.uri=/tmp/unused"])
    fresh = fingerprint(cfg)
    # Written when one teacher section held both backends' keys.
    stored = {**fresh, "teacher.base_url": "", "teacher.use_n": True, "teacher.request_fields": {}}
    assert diff_keys(stored, fresh) and not diff_keys(comparable(stored, cfg), fresh)
    assert diff_keys(comparable({**stored, "teacher.dtype": "x"}, cfg), fresh) == ["teacher.dtype"]
