"""`python -m classroom_box`: the command line. The only module that imports cli.py, and it must
never do anything else."""

from classroom_box.cli import main

raise SystemExit(main())
