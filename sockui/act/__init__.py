"""Actions that change something outside sockui (signal a process, close a socket); no UI code here."""
