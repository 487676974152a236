"""``python -m orchestration.cli``: the ``mmsr`` command without the installed script."""

from orchestration.cli.main import main

raise SystemExit(main())
