from flexaqa.cli import main

raise SystemExit(main())
