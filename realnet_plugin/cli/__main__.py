"""``python -m realnet_plugin.cli``: the ``realnet`` command line (as ``python -m realnet_plugin``)."""
import sys

from realnet_plugin.cli import main

if __name__ == "__main__":
    sys.exit(main())
