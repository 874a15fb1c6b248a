"""``python -m obskit`` is the ``obskit`` command."""

import sys

from obskit.cli import main

sys.exit(main())
