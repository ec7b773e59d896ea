"""``python -m raydistill.export ...``: ``raydistill export`` (:mod:`raydistill.cli.export`)."""

import sys

from raydistill.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
