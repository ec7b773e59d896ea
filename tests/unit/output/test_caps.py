"""Spending caps without Ray: the waves stop at a cap, resume with a higher one, and a cap
below the spend so far is refused before any work (raydistill.output.caps)."""

import pytest

from raydistill import pipeline
from raydistill.config import ConfigError
from raydistill.output.caps import spent
from raydistill.output.manifest import load_manifest
from tests.unit.test_waves import config, fake_generate, staged_run

# fake_generate: 3 completion tokens a sample, 7 prompt tokens a request; 11 of the 12
# problems answerable, so wave 0 (2 samples each) spends 66 completion tokens.
PRICED = ["teacher.price_output_per_million=1000000", "teacher.price_input_per_million=0"]


def run_waves(tmp_path, monkeypatch, *caps):
    cfg, out, manifest = staged_run(tmp_path, monkeypatch, *PRICED, *caps)
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    capped = pipeline.generate_waves(cfg, out, manifest, manifest.staged["problems"])
    return capped, calls, load_manifest(out)


def test_a_token_cap_stops_before_the_next_wave_and_records_the_spend(tmp_path, monkeypatch):
    capped, calls, manifest = run_waves(tmp_path, monkeypatch, "output.max_completion_tokens=50")
    assert capped and calls == [(0, 2)]  # wave 0 ran whole; wave 1 never started
    assert manifest.capped == {"cap": "output.max_completion_tokens", "before_wave": 1,
                               "completion_tokens": 66, "cost": 66.0}
    assert (manifest.waves[0]["prompt_tokens"], manifest.waves[0]["completion_tokens"]) == (77, 66)
    assert len(manifest.waves) == 1


def test_a_cost_cap_counts_each_teacher_at_its_price(tmp_path, monkeypatch):
    capped, calls, manifest = run_waves(tmp_path, monkeypatch, "output.max_cost_usd=100")
    assert capped and manifest.capped["cap"] == "output.max_cost_usd"
    assert spent(manifest.waves)["cost"] >= 100 and len(calls) == 2


def test_a_higher_cap_resumes_at_the_next_wave_exactly_once(tmp_path, monkeypatch):
    run_waves(tmp_path, monkeypatch, "output.max_completion_tokens=50")
    cfg = config(tmp_path, "sampling.waves=[2,2,4]", "sampling.max_samples=8", *PRICED,
                 "output.max_completion_tokens=100000")
    out = pipeline.OutputLocation(cfg.output)
    manifest = load_manifest(out)
    calls = []
    monkeypatch.setattr(pipeline, "generate", fake_generate(calls))
    assert not pipeline.generate_waves(cfg, out, manifest, manifest.staged["problems"])
    assert calls[0] == (2, 2) and (0, 2) not in calls  # wave 0 is not redone
    assert all(w["generated"] for w in manifest.waves)


def test_a_cap_below_the_spend_so_far_is_refused_before_any_work(tmp_path, monkeypatch):
    run_waves(tmp_path, monkeypatch, "output.max_completion_tokens=50")
    cfg = config(tmp_path, "sampling.waves=[2,2,4]", "sampling.max_samples=8", *PRICED,
                 "output.max_completion_tokens=10")
    out = pipeline.OutputLocation(cfg.output)
    monkeypatch.setattr(pipeline, "generate", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ConfigError, match=r"output\.max_completion_tokens.*already"):
        pipeline.run(cfg, out, load_manifest(out))


@pytest.mark.parametrize("overrides, key", [
    (["output.max_cost_usd=0", "sampling.waves=[1]"], r"output\.max_cost_usd"),
    (["output.max_completion_tokens=-1", "sampling.waves=[1]"], r"output\.max_completion_tokens"),
    (["output.max_cost_usd=5"], r"output\.max_cost_usd.*sampling\.waves"),  # fixed-n: no waves
])
def test_bad_caps_are_named(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=key):
        config(tmp_path, *overrides)
