from contacts_mcp.cli import main

raise SystemExit(main())
