"""``python -m cli``: the browserml command."""

import sys

from cli import main

sys.exit(main())
