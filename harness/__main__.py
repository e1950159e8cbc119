"""`python -m harness` is the same as the `mwaa-drill` console script."""

import sys

from harness.cli import main

sys.exit(main())
