"""The loop manifest, ``<output.uri>/loop.json``: what the loop is and what it has committed.

Rewritten atomically (a local rename, one S3 PUT) after each step of a round::

    fingerprint   the result-shaping keys of the config (a run's, plus loop.* and train.*)
    rounds        one entry per round, filled step by step:
                    model      the model the round sampled with (path or URI)
                    run        the round's run: problems, samples, verified, tokens
                    eval       held-out greedy pass@1 and pass@k (at the sampling temperature)
                    selected   training rows chosen from the run (pairs: DPO pairs)
                    train      rows, steps, loss, seconds (per phase too)
                    checkpoint the trained model: the next round's model
    best_round    the round whose model evaluated best (greedy pass@1)
    finished      why the loop stopped ("rounds", "patience"), null while running

A rerun skips every committed step; a step cut short (generation, evaluation:
each an ordinary resumable run; selection: redone whole; training: a phase whose
``rounds/<r>/<phase>.json`` marker exists is adopted, else redone) continues
(``rounds.py`` states the state machine).
A config whose fingerprint differs is refused, naming the keys, unless
``output.overwrite=true`` (which deletes the whole loop output).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.fs as pafs

from raydistill.config import Config
from raydistill.config.loader import dotted, to_dict
from raydistill.keys import PERFORMANCE, role_of
from raydistill.output.config import s3_endpoint
from raydistill.output.manifest import comparable, diff_keys, fingerprint
from raydistill.output.storage import StorageError, resolve, write_bytes_atomic


def loop_fingerprint(cfg: Config) -> dict[str, Any]:
    """The run fingerprint of ``cfg`` plus its ``loop`` and ``train`` keys.

    ``loop.export`` is flattened (``loop.export.k``), so a refusal names the key.
    """
    keys = fingerprint(cfg)
    plain = to_dict(cfg)
    for section in ("loop", "train"):
        for key, value in plain[section].items():
            name = f"{section}.{key}"
            if name == "loop.export":
                keys.update((k, v) for k, v in dotted(value, f"{name}.").items()
                            if role_of(cfg, k) != PERFORMANCE)
            elif role_of(cfg, name) != PERFORMANCE:  # speed or placement, not the weights
                keys[name] = value
    loaded: dict[str, Any] = json.loads(json.dumps(keys, sort_keys=True, default=str))
    return loaded


@dataclass
class LoopState:
    """The contents of ``loop.json``."""

    fingerprint: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    best_round: int | None = None
    best_model: str | None = None
    finished: str | None = None

    def round(self, r: int) -> dict[str, Any]:
        """The entry of round ``r``, created empty if new."""
        while len(self.rounds) <= r:
            self.rounds.append({"round": len(self.rounds)})
        return self.rounds[r]


class LoopLocation:
    """Paths of a loop's output: ``loop.json``, ``report.html``, ``rounds/<r>/``."""

    def __init__(self, cfg: Config) -> None:
        self.uri = cfg.output.uri.rstrip("/")
        self.fs, self.root = resolve(cfg.output.uri, s3_endpoint(cfg.output),
                                     cfg.output.s3_region)
        self.manifest = f"{self.root}/loop.json"
        self.report = f"{self.root}/report.html"

    def round_uri(self, r: int) -> str:
        """The output URI of round ``r``'s run."""
        return f"{self.uri}/rounds/{r}"

    def round_path(self, r: int, *parts: str) -> str:
        """A path on :attr:`fs` inside round ``r``'s directory."""
        return "/".join([self.root, "rounds", str(r), *parts])

    def model_ref(self, r: int, name: str = "model") -> str:
        """What ``teacher.model`` names round ``r``'s checkpoint by: an absolute path or URI.

        Absolute, because Ray's workers do not share the driver's working directory;
        an ``s3://`` URI is downloaded by each engine to its node (``resolve_model``).
        """
        if isinstance(self.fs, pafs.LocalFileSystem):
            return self.round_path(r, name)
        return f"{self.round_uri(r)}/{name}"

    def save(self, state: LoopState) -> None:
        """Write ``loop.json`` atomically."""
        data = json.dumps(asdict(state), indent=2, sort_keys=True, default=str).encode()
        write_bytes_atomic(self.fs, self.manifest, data)

    def load(self) -> LoopState | None:
        """The stored state, or None if no loop has started here."""
        try:
            with self.fs.open_input_stream(self.manifest) as stream:
                return LoopState(**json.loads(stream.read()))
        except FileNotFoundError:
            return None

    def has_data(self) -> bool:
        """True if anything is under the loop's URI."""
        return self.fs.get_file_info(self.root).type != pafs.FileType.NotFound and bool(
            self.fs.get_file_info(pafs.FileSelector(self.root)))

    def clear(self) -> None:
        """Delete a previous loop's output (its manifest first)."""
        if self.fs.get_file_info(self.manifest).type == pafs.FileType.File:
            self.fs.delete_file(self.manifest)
        if self.fs.get_file_info(self.root).type == pafs.FileType.Directory:
            self.fs.delete_dir_contents(self.root)


def open_loop(loc: LoopLocation, cfg: Config) -> LoopState:
    """Resume the loop at ``loc`` or start one; refuse a different config (see module doc)."""
    fresh = loop_fingerprint(cfg)
    stored = loc.load()
    if cfg.output.overwrite:
        loc.clear()
        stored = None
    elif stored is None and loc.has_data():
        raise StorageError(f"{loc.uri} holds data but no loop manifest ({loc.manifest}); pass "
                           "output.overwrite=true to replace it, or choose another output.uri")
    elif stored is not None:
        changed = diff_keys(comparable(stored.fingerprint, cfg), fresh)
        if changed:
            shown = ", ".join(f"{k} ({stored.fingerprint.get(k)!r} -> {fresh.get(k)!r})"
                              for k in changed)
            raise StorageError(f"{loc.uri} holds a loop made with a different config: {shown}. "
                               "Pass output.overwrite=true to start a new loop there, or "
                               "choose another output.uri")
    return stored or LoopState(fingerprint=fresh)
