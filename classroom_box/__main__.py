from classroom_box.cli import main

raise SystemExit(main())
