"""``python -m realnet_plugin``: the ``realnet`` command line (``realnet --help`` for the commands).

Multi-process training: ``torchrun --nproc_per_node N -m realnet_plugin train ...``.
"""
import sys

from realnet_plugin.cli import main

if __name__ == "__main__":
    sys.exit(main())
