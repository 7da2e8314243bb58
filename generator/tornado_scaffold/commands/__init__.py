"""One module per command; each returns a result and prints nothing (the CLI prints)."""
