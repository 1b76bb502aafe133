"""`python -m camrobust explain ...`: the `camrobust` command without the console script."""

import sys

from camrobust.cli import main

sys.exit(main())
