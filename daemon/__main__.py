from secondself.cli.main import main

raise SystemExit(main())
