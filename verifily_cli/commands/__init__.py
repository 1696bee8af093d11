"""One module per command group; each parses flags, calls a use case and renders the result."""
