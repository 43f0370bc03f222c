"""`python -m basisgraph.cli`: the same entry point as the `basisgraph` command."""

from basisgraph.cli.main import main

raise SystemExit(main())
