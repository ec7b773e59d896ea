"""Checks a run must pass before it is published: exactly-once coverage, the error budget."""

from __future__ import annotations

from collections import Counter

import pyarrow.compute as pc

from raydistill.output.location import OutputLocation, PassPaths


class RunFailed(RuntimeError):
    """A run that finished its work but must not be published as it is."""


def check_coverage(out: OutputLocation, paths: PassPaths | None = None) -> None:
    """Fail unless ``_work/generations`` holds every staged problem exactly once.

    Cheap (one id column each) and the last line of defence for exactly-once:
    a lost or duplicated problem stops the run before anything is published.
    ``paths``: another pass's problems and generations (an adaptive wave's).
    """
    paths = paths or out.pass_paths()
    # Arrow arrays, not Python sets: 100k ids as Python strings cost the driver ~50 MiB.
    staged = out.read_columns(paths.problems, ["problem_id"])["problem_id"]
    done = out.read_columns(paths.generations, ["problem_id"])["problem_id"]
    counts = pc.value_counts(done)
    repeats = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    missing = pc.filter(staged, pc.invert(pc.is_in(staged, value_set=done)))
    if len(repeats) or len(missing) or len(done) != len(staged):
        raise RunFailed(
            f"generations under {paths.generations} do not cover the problems exactly once: "
            f"{len(staged)} staged, {len(done)} generated, {len(missing)} missing "
            f"(e.g. {sorted(missing.to_pylist())[:3]}), {len(repeats)} repeated "
            f"(e.g. {repeats.to_pylist()[:3]})"
        )


def error_budget(out: OutputLocation, path: str, max_fraction: float | None) -> None:
    """Fail loudly if more than ``max_fraction`` of the rows at ``path`` are errors."""
    if max_fraction is None:
        return
    rows = out.read_columns(path, ["verdict", "reason"])
    errors = rows.filter(pc.equal(rows["verdict"], "error"))
    if rows.num_rows and errors.num_rows / rows.num_rows > max_fraction:
        reasons = Counter(errors["reason"].to_pylist())
        raise RunFailed(
            f"{errors.num_rows} of {rows.num_rows} rows are errors "
            f"({errors.num_rows / rows.num_rows:.1%}), over output.max_error_fraction="
            f"{max_fraction}; reasons: {dict(reasons.most_common(5))}. Nothing was "
            f"published; the rows are under {path}"
        )
