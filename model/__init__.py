"""model stage (see DESIGN.md)."""
