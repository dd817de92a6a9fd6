"""kg stage (see DESIGN.md)."""
