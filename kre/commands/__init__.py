"""One thin module per subcommand: options only; the library does the work."""
