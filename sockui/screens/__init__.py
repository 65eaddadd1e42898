"""Screens of the TUI: the main table, help, owners view."""
