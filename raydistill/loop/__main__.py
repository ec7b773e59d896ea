"""``python -m raydistill.loop ...`` is ``raydistill loop ...``: :mod:`raydistill.cli.loop`."""

import sys

from raydistill.cli.loop import main

if __name__ == "__main__":
    sys.exit(main())
