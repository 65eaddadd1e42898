"""The filter language in a few lines, shared by ``--help``, the ``?`` screen and the README."""

from __future__ import annotations

#: (form, meaning), in the order a newcomer needs them.
FILTER_SYNTAX: tuple[tuple[str, str], ...] = (
    ("tcp udp unix raw ipv4 ipv6", "protocol / family"),
    ("listening connected bound unbound", "binding state"),
    ("established time-wait …", "a TCP state (also: state close-wait)"),
    ("port 443  sport >= 1024  dport != 22", "either / local / remote port (= != < > <= >=, names)"),
    ("src 10.0.0.0/8  dst ::1  addr [::1]:22", "local / remote / either address or network"),
    ("pid 123  proc nginx  user postgres", "owner pid, process name (part or glob, any case), user"),
    ("path '/run/*'  inode 212520", "UNIX path glob; a socket's or its peer's inode"),
    ("netns web*  netns host  container 3f2a*", "network namespace label; an owner's container"),
    ("port:443  proc:nginx", "keyword:value works too"),
    ("and  or  not  ( )", "combine (a space means and)"),
    ("anything else", "searches addresses, ports, process names and paths"),
)


def filter_help_text(indent: str = "  ") -> str:
    """The syntax as aligned plain text (for ``--help``)."""
    width = max(len(form) for form, _ in FILTER_SYNTAX)
    return "\n".join(f"{indent}{form:<{width}}  {meaning}" for form, meaning in FILTER_SYNTAX)
