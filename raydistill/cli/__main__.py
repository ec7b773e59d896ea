"""``python -m raydistill.cli COMMAND ...``: the ``raydistill`` console script without it."""

import sys

from raydistill.cli import main

if __name__ == "__main__":
    sys.exit(main())
