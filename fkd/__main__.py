"""``python -m fkd``: the same as the ``fkd`` command."""

import sys

from fkd.cli import main

sys.exit(main())
