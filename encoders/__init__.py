"""encoders stage (see DESIGN.md)."""
