"""Make (or remake) the HTML report of a raydistill output: ``raydistill report``'s old name.

    python tools/report.py out/local
    python tools/report.py s3://bucket/run1 [--s3-endpoint http://127.0.0.1:9000] [--price GPU=3.9]
"""

import sys

from raydistill.report import main

if __name__ == "__main__":
    sys.exit(main())
