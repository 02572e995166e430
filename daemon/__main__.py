from secondself.cli import main

raise SystemExit(main())
