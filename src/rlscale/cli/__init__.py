"""Thin typer commands; no logic lives here (DESIGN.md §1)."""
