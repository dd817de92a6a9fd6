"""sparql stage (see DESIGN.md)."""
