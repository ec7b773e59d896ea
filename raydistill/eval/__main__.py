"""``python -m raydistill.eval ...``: ``raydistill eval`` (:mod:`raydistill.cli.eval`)."""

import sys

from raydistill.cli.eval import main

if __name__ == "__main__":
    sys.exit(main())
