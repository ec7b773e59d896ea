"""``python -m raydistill.run ...`` is ``raydistill run ...``: :mod:`raydistill.cli.run`."""

import sys

from raydistill.cli.run import main

if __name__ == "__main__":
    sys.exit(main())
