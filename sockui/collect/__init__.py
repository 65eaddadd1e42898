"""Collectors: read sockets and owners from the kernel and /proc. Never imports Textual."""
