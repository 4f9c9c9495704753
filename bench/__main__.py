import sys

from bench.cli import main

if __name__ == "__main__":  # not when multiprocessing's forkserver imports the main module
    sys.exit(main())
