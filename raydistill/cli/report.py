"""Make (or remake) the HTML report of any raydistill output, local or s3://.

    raydistill report out/local
    raydistill report s3://bucket/run1 [--s3-endpoint http://127.0.0.1:9000]
    raydistill report s3://bucket/run1 --price GPU=3.9   # USD per GPU-hour

Writes ``<uri>/report.html`` next to the data (a self-contained page: open it
offline) and prints where it went.
"""

from __future__ import annotations

import argparse
import sys

from raydistill.cli.console import refuse, setup_console, split_verbose
from raydistill.observe.report import REPORT_NAME, write_report
from raydistill.output.config import OutputConfig
from raydistill.output.location import OutputLocation
from raydistill.output.storage import StorageError


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


def parser() -> argparse.ArgumentParser:
    """The command's arguments: ``URI [--s3-endpoint URL] [--s3-region R] [--price R=USD]``."""
    parsed = argparse.ArgumentParser(prog="raydistill report",
                                     description=(__doc__ or "").splitlines()[0])
    parsed.add_argument("uri", help="the run's output.uri (a directory or s3://bucket/prefix)")
    parsed.add_argument("--s3-endpoint", help="S3-compatible endpoint (default: AWS or "
                        "$AWS_ENDPOINT_URL)")
    parsed.add_argument("--s3-region", help="S3 region (default: $AWS_REGION or us-east-1)")
    parsed.add_argument("--price", type=parse_price, action="append", default=[],
                        metavar="RESOURCE=USD_PER_HOUR",
                        help="price of one unit of a teacher resource per hour, e.g. GPU=3.9")
    return parsed


def main(argv: list[str] | None = None) -> int:
    """Write the report; return the process exit code."""
    rest, verbose = split_verbose(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(rest)
    setup_console(verbose)
    try:
        out = OutputLocation(OutputConfig(uri=args.uri, s3_endpoint=args.s3_endpoint,
                                          s3_region=args.s3_region))
        write_report(out, dict(args.price))
    except (StorageError, OSError) as exc:
        return refuse("report", exc)
    print(f"{out.uri}/{REPORT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
