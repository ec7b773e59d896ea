"""Make (or remake) the HTML report of any raydistill output, local or s3://.

    raydistill report out/local          # = python -m raydistill.report (tools/report.py)
    raydistill report s3://bucket/run1 [--s3-endpoint http://127.0.0.1:9000]
    raydistill report s3://bucket/run1 --price GPU=3.9   # USD per GPU-hour

Writes ``<uri>/report.html`` next to the data (a self-contained page: open it
offline) and prints where it went.
"""

from __future__ import annotations

import argparse
import sys

from raydistill.observe.report import REPORT_NAME, write_report
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation
from raydistill.output.storage import StorageError
from raydistill.ray_session import setup_console


def parse_price(text: str) -> tuple[str, float]:
    """``RESOURCE=USD_PER_HOUR`` as a pair.

    >>> parse_price("GPU=3.9")
    ('GPU', 3.9)
    """
    resource, _, price = text.partition("=")
    try:
        return resource, float(price)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RESOURCE=USD_PER_HOUR, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Write the report; return the process exit code."""
    parser = argparse.ArgumentParser(prog="raydistill report",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("uri", help="the run's output.uri (a directory or s3://bucket/prefix)")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint (default: AWS or "
                        "$AWS_ENDPOINT_URL)")
    parser.add_argument("--s3-region", help="S3 region (default: $AWS_REGION or us-east-1)")
    parser.add_argument("--price", type=parse_price, action="append", default=[],
                        metavar="RESOURCE=USD_PER_HOUR",
                        help="price of one unit of a teacher resource per hour, e.g. GPU=3.9")
    args = parser.parse_args(argv)
    setup_console()
    try:
        out = OutputLocation(OutputConfig(uri=args.uri, s3_endpoint=args.s3_endpoint,
                                          s3_region=args.s3_region))
        write_report(out, dict(args.price))
    except (StorageError, OSError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(f"{out.uri}/{REPORT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
