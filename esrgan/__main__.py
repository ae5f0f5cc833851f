import sys

from esrgan.cli.main import main

sys.exit(main())
