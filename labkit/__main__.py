"""`python -m labkit ...` is the `labkit` command (labkit/cli.py), for environments without its script."""

import sys

from labkit.cli import main

if __name__ == "__main__":   # imported as labkit.__main__ (tests walking the package), it runs nothing
    sys.exit(main())
