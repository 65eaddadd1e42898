"""``python -m sockui``: the same as the ``sockui`` command."""

import sys

from sockui.cli import main

sys.exit(main())
