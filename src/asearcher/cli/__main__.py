import sys

from asearcher.cli import main

sys.exit(main())
