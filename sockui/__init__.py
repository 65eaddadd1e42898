"""sockui: a live terminal explorer for every socket on the machine."""

__version__ = "0.1.0"
