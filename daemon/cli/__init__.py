"""The `secondself` command: the entry point, the registry, one module per subcommand."""
