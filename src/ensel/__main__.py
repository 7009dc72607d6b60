from ensel.cli import main

raise SystemExit(main())
