"""Run the command line from a checkout: ``python cli.py solve instances/small.json``."""

from matcher.cli import main

if __name__ == "__main__":
    main()
