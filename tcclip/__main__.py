import sys

from tcclip.cli import main

sys.exit(main())
