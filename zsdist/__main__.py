"""`python -m zsdist` is the `zsdist` command."""

from zsdist.cli import main

main()
