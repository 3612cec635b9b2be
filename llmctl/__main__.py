"""`python -m llmctl` runs the command line."""

from llmctl.cli.app import main

if __name__ == "__main__":
    main()
