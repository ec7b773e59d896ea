"""``raydistill compare URI [URI ...] [--baseline URI] --out DIR``: evaluations side by side.

One row per benchmark, one column per finished evaluation (``raydistill eval``'s
output.uri): avg@n ± standard error, and each model's difference from the baseline
(the first URI unless ``--baseline`` names one) with a 95% paired-bootstrap interval
over the problems both evaluated. Writes compare.json, compare.md and compare.html
into ``--out`` (a folder or ``s3://``) and prints the markdown table.

    raydistill compare out/eval-student --baseline out/eval-local --out out/compare
"""

from __future__ import annotations

import argparse
import json
import sys

from raydistill.cli.console import refuse
from raydistill.eval.compare import CompareError, compare, load_eval, render_html, render_markdown
from raydistill.output.storage import StorageError, resolve, write_bytes_atomic


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="raydistill compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("uris", nargs="+", help="finished evaluations (their output.uri)")
    parser.add_argument("--baseline", help="the evaluation the others are compared with "
                                           "(default: the first)")
    parser.add_argument("--out", required=True, help="folder or s3:// prefix for the results")
    parser.add_argument("--s3-endpoint", default=None, help="S3-compatible endpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Compare finished evaluations; write compare.json/.md/.html into ``--out``."""
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    uris = list(args.uris)
    if args.baseline and args.baseline not in uris:
        uris.insert(0, args.baseline)
    try:
        evals = [load_eval(uri, args.s3_endpoint) for uri in uris]
        result = compare(evals, uris.index(args.baseline) if args.baseline else 0)
        fs, root = resolve(args.out, args.s3_endpoint)
        write_bytes_atomic(fs, f"{root}/compare.json", json.dumps(result, indent=2).encode())
        write_bytes_atomic(fs, f"{root}/compare.md", render_markdown(result).encode())
        write_bytes_atomic(fs, f"{root}/compare.html", render_html(result).encode())
    except (CompareError, StorageError, OSError) as exc:
        return refuse("compare", exc)
    print(render_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
