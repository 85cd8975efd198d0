"""Command-line interface (typer): thin adapters over the services."""
