"""``raydistill loop conf=NAME [key=value ...] [-v]`` (= ``python -m raydistill.loop``).

Self-bootstrapping rounds (raydistill/loop/rounds.py): each round samples with the
current model, verifies, selects, fine-tunes, and evaluates on a held-out split.
Rerunning the same command resumes from the last committed step; a loop at
``output.uri`` made with a different config is refused, naming the keys.
``-v`` shows Ray's, vLLM's and the training workers' own logs here.
"""

from __future__ import annotations

import logging
import sys

from raydistill.cli.console import REFUSED, refuse, start
from raydistill.config import ConfigError, load
from raydistill.loop.config import loop_checks
from raydistill.loop.state import LoopLocation, open_loop
from raydistill.loop.steps import check_imitate, run_loop
from raydistill.ray_session import init_ray

logger = logging.getLogger("raydistill")


def main(argv: list[str] | None = None) -> int:
    """Run or resume the loop; return the process exit code."""
    parsed = start(argv, __doc__)
    if parsed is None:
        return 0
    args, verbose = parsed
    try:
        cfg = load(args)
        for ok, key, problem in loop_checks(cfg.loop, cfg.source.datasets):
            if not ok:
                raise ConfigError(f"config key {key!r} {problem}")
        loc = LoopLocation(cfg)
        # A changed config is refused before Ray starts; a finished loop needs no Ray.
        state = None if cfg.output.overwrite else open_loop(loc, cfg)
        if cfg.loop.imitate and (state is None or not state.rounds
                                 or "selected" not in state.rounds[0]):
            check_imitate(cfg)  # round 0 has yet to read it
    except REFUSED as exc:
        return refuse("loop", exc)
    if state is None or state.finished is None:
        init_ray(cfg.ray, verbose)
        state = run_loop(cfg)
    else:
        logger.info("%s is a finished loop with this config (%s)", loc.uri, state.finished)
    for entry in state.rounds:
        ev = entry.get("eval", {})
        print(f"round {entry['round']}: pass@1 {ev.get('pass@1', float('nan')):.3f}  "
              f"pass@{ev.get('k', '?')} {ev.get('pass@k', float('nan')):.3f}  "
              f"trained on {entry.get('selected', '-')}  model {entry.get('model')}")
    print(f"best round {state.best_round}: {state.best_model}  ({loc.uri}/loop.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
