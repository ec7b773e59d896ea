"""``python -m raydistill.verify ...``: ``raydistill verify ...`` (:mod:`raydistill.cli.verify`)."""

import sys

from raydistill.cli.verify import main

if __name__ == "__main__":
    sys.exit(main())
