"""`python -m activelabel_client --help` (see activelabel_client/cli.py)."""
import sys

from activelabel_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
