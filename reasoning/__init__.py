"""reasoning stage (see DESIGN.md)."""
