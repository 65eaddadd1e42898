"""Textual widgets of the TUI. They render model data; they never read the kernel."""
