"""The run manifest: what a run is (its fingerprint) and what it has committed.

``<output.uri>/_work/run.json`` is written when a run starts and rewritten
(atomically: a local rename, a single S3 PUT) at each step it commits::

    fingerprint   the config keys that shape results, as "section.key": value
    staged        problem counts once every input part is written, else null
    filtered      the problem filters' tally once kept/removed are written, else null
    waves         adaptive sampling only: per wave {wave, n, offset, problems, generated}
    generated     true once the teacher/verifier pass has covered every problem
    published     the committed parts of all/ and verified/ with row counts, else null
    problem_table the tally of problems/ once it is committed (output/problems.py), else null

Rerunning the same command resumes: committed steps are skipped, and the
teacher pass skips every problem Ray Data's checkpoint already holds. A config
whose fingerprint differs is refused, naming the keys, unless
``output.overwrite=true`` asks for a new run (the old output is deleted).

The fingerprint is every key of the result-shaping sections except the ones
whose field is declared performance-only (:func:`raydistill.keys.key`): a new key
is treated as result-shaping until someone says otherwise, so stale and fresh
rows are never mixed silently.

>>> diff_keys({"sampling.n": 4, "teacher.model": "a"}, {"sampling.n": 8, "teacher.model": "a"})
['sampling.n']
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import raydistill
from raydistill.config import Config
from raydistill.config.loader import dotted, to_dict
from raydistill.keys import PERFORMANCE, field_of, role_of
from raydistill.output.storage import StorageError, write_bytes_atomic

if TYPE_CHECKING:
    from raydistill.output.location import OutputLocation

logger = logging.getLogger(__name__)

# Sections whose keys decide what the rows say (the judge's verdicts are rows
# too). `output` and `ray` only decide where rows go and how fast.
RESULT_SECTIONS = ("source", "prompt", "teacher", "teachers", "sampling",
                   "verify", "judge", "filters")

# Adaptive sampling's keys (raydistill.sampling.waves).
ADAPTIVE_KEYS = ("sampling.waves", "sampling.stop_at_verified", "sampling.max_samples")




def fingerprint(cfg: Config) -> dict[str, Any]:
    """The result-shaping keys of ``cfg``, flattened to ``section.key`` (JSON values)."""
    plain = to_dict(cfg)
    keys: dict[str, Any] = {"raydistill_version": raydistill.__version__}
    # A data set read from its first row: its fingerprint is what it was before
    # `offset` existed (runs made then resume).
    for ds in plain.get("source", {}).get("datasets", []):
        if ds.get("offset") == 0:
            del ds["offset"]
    for section in RESULT_SECTIONS:
        if section in plain:
            flat = dotted(plain[section], f"{section}.")
            keys.update({k: v for k, v in flat.items() if role_of(cfg, k) != PERFORMANCE})
    if plain.get("judge", {}).get("policy") == "rule_only":  # no judge: its keys shape nothing
        keys = {k: v for k, v in keys.items() if not k.startswith("judge.") or k == "judge.policy"}
    # Adaptive sampling: without waves its keys shape nothing (a fixed-n run's
    # fingerprint is what it was before they existed); with waves, n is unused.
    unused = (ADAPTIVE_KEYS if plain.get("sampling", {}).get("waves") is None
              else ("sampling.n",))
    keys = {k: v for k, v in keys.items() if k not in unused}
    # Round-trip through JSON so a stored fingerprint compares equal to a fresh one.
    loaded: dict[str, Any] = json.loads(json.dumps(keys, sort_keys=True, default=str))
    return loaded


def comparable(stored: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """``stored`` without the keys no field of ``cfg``'s sections holds.

    Those are the other teacher backend's keys in a fingerprint written before the
    teacher section was typed per backend (a vLLM run stored ``teacher.base_url``):
    they never shaped a row of this run's backend, so the run still resumes.
    """
    return {k: v for k, v in stored.items()
            if field_of(cfg, k.partition(".")[0]) is None or field_of(cfg, k) is not None}


def diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two fingerprints (missing counts as differing)."""
    return sorted(k for k in set(old) | set(new) if old.get(k, "<unset>") != new.get(k, "<unset>"))


@dataclass
class Manifest:
    """The state of one run at ``output.uri``."""

    fingerprint: dict[str, Any]
    created_at: float = field(default_factory=time.time)
    attempts: int = 0
    staged: dict[str, int] | None = None
    # The problem filters' tally once kept and removed problems are written, else null.
    filtered: dict[str, Any] | None = None
    generated: bool = False
    published: dict[str, list[dict[str, Any]]] | None = None
    # The tally of problems/ once it is written after publish, else null.
    problem_table: dict[str, Any] | None = None
    # Adaptive sampling: one entry per wave started ({wave, n, offset, problems,
    # generated}); absent from a fixed-n run's run.json.
    waves: list[dict[str, Any]] | None = None
    # Stopped at a spending cap (output/caps.py): the cap's key and the spend then.
    capped: dict[str, Any] | None = None

    def save(self, out: OutputLocation) -> None:
        """Write the manifest atomically (readers see the old or the new one)."""
        state = asdict(self)
        if state["waves"] is None:
            del state["waves"]
        if state["capped"] is None:
            del state["capped"]
        data = json.dumps(state, indent=2, sort_keys=True).encode()
        write_bytes_atomic(out.fs, out.manifest, data)


def load_manifest(out: OutputLocation) -> Manifest | None:
    """The manifest at ``out``, or None if no run has started there."""
    try:
        with out.fs.open_input_stream(out.manifest) as stream:
            raw = json.loads(stream.read())
    except FileNotFoundError:
        return None
    return Manifest(**raw)


def open_run(out: OutputLocation, cfg: Config) -> Manifest:
    """Resume the run at ``out`` or start one; refuse a different config.

    Raises :class:`StorageError` naming the differing keys when the stored run
    was made with another result-shaping config and ``output.overwrite`` is
    false, or when ``out`` holds data that no raydistill manifest describes.
    """
    fresh = fingerprint(cfg)
    stored = load_manifest(out)
    if cfg.output.overwrite:
        if stored is not None or out.has_data():
            logger.info("output.overwrite=true: deleting the previous run at %s", out.uri)
            out.clear()
        stored = None
    elif stored is None and out.has_data():
        raise StorageError(
            f"{out.uri} holds data but no run manifest ({out.manifest}); pass "
            "output.overwrite=true to replace it, or choose another output.uri"
        )
    elif stored is not None:
        changed = diff_keys(comparable(stored.fingerprint, cfg), fresh)
        if changed:
            shown = ", ".join(
                f"{k} ({stored.fingerprint.get(k)!r} -> {fresh.get(k)!r})" for k in changed
            )
            raise StorageError(
                f"{out.uri} holds a run made with a different config: {shown}. "
                "Resuming would mix stale and fresh rows; pass output.overwrite=true "
                "to start a new run there, or choose another output.uri"
            )
    if stored is None:
        stored = Manifest(fingerprint=fresh)
    return stored

