"""Which container or systemd unit a process belongs to, read from its cgroup path alone (pure parsing).

Labels come from the kernel and the filesystem only, never from a container daemon (spec section 3).
A process's cgroup path (``/proc/PID/cgroup``) names its container for every common runtime:

=========================  ==============================================================================
runtime                    path segment (the deepest match in the path wins: nested containers)
=========================  ==============================================================================
docker                     ``docker-<id>.scope`` (systemd driver), ``<id>`` under a ``docker`` segment
containerd (CRI)           ``cri-containerd-<id>.scope``
CRI-O                      ``crio-<id>.scope`` or ``crio-<id>`` (``crio-conmon-…`` is no container)
podman                     ``libpod-<id>.scope`` or ``libpod-<id>`` (``libpod-conmon-…`` is none)
kubernetes (cgroupfs)      a bare ``<id>`` under a ``pod<uid>`` segment of a ``kubepods…`` tree
LXC                        ``lxc.payload.<name>`` (also ``<name>`` under an ``lxc`` segment)
systemd-nspawn, machined   ``machine-<name>.scope``, ``systemd-nspawn@<name>.service`` (name unescaped)
=========================  ==============================================================================

``<id>`` is 64 lowercase hex digits; a container's short id is its first 12. Under ``kubepods…`` the pod
is known too: ``pod<uid>`` (``…-pod<uid with _ for ->.slice`` with the systemd driver).

A process in no container gets its systemd unit: the first path segment that is not a slice and ends in a
unit suffix (``/system.slice/nginx.service`` → ``nginx.service``, ``/user.slice/user-1000.slice/
user@1000.service/app.slice/x.service`` → ``user@1000.service``, ``/init.scope`` → ``init.scope``), as
systemd itself resolves a cgroup to its unit. Unit names are kept escaped, as systemd names them.

Which line of ``/proc/PID/cgroup``: the cgroup v2 line (``0::``) first, then v1's ``name=systemd``, then
the controller lines (docker on pure v1 writes its path in every one). The unit comes from the first two
only. Cgroup names cannot hold a newline (mkdir gives EINVAL, checked on 6.18), so the line structure
holds; anything else in a name (colons, tabs, escapes, bytes that are not UTF-8) is kept raw
(surrogateescape), for the UI to escape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Runtimes named in :class:`Container`.
DOCKER = "docker"
CONTAINERD = "containerd"
CRIO = "cri-o"
PODMAN = "podman"
KUBERNETES = "kubernetes"
LXC = "lxc"
NSPAWN = "nspawn"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SCOPED = re.compile(r"(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?")
_PREFIX_RUNTIME = {"docker": DOCKER, "cri-containerd": CONTAINERD, "crio": CRIO, "libpod": PODMAN}
_POD = re.compile(r"(?:.*-)?pod([0-9a-f][0-9a-f_-]{15,63})(?:\.slice)?")
_MACHINE = re.compile(r"machine-(.+)\.scope|systemd-nspawn@(.+)\.service")
_SYSTEMD_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap", ".target", ".timer", ".path", ".device")

SHORT_ID = 12
#: Characters of a pod uid shown in its label (``pod 0f1e2d3c``): the uid's first group.
POD_PREFIX = 8


@dataclass(frozen=True, slots=True)
class Container:
    """A container a process is in, as its cgroup path names it."""

    #: One of DOCKER, CONTAINERD, CRIO, PODMAN, KUBERNETES, LXC, NSPAWN.
    runtime: str
    #: The 64-hex container id, or the container's name for LXC and nspawn (which have no id).
    ident: str

    @property
    def has_id(self) -> bool:
        """True when :attr:`ident` is a hex id (not a name)."""
        return _HEX64.fullmatch(self.ident) is not None

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the id; the name itself for runtimes without ids."""
        return self.ident[:SHORT_ID] if self.has_id else self.ident


@dataclass(frozen=True, slots=True)
class CgroupInfo:
    """What one process's cgroup paths say about it."""

    container: Container | None = None
    #: Kubernetes pod uid (dashes, as the API shows it), when the process is in a pod.
    pod: str | None = None
    #: systemd unit, when the process is in one (also set for containers run as units, e.g. docker's
    #: ``docker-<id>.scope``).
    unit: str | None = None


def systemd_unescape(text: str) -> str:
    r"""Undo systemd's ``\xNN`` escapes (``qemu\x2d1`` → ``qemu-1``); undecodable bytes kept raw."""
    raw = text.encode("utf-8", "surrogateescape")
    return _SYSTEMD_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", "surrogateescape")


def _container_in(segments: list[str]) -> tuple[Container | None, str | None]:
    """The deepest container in a path's segments, and the kubernetes pod uid above it."""
    container: Container | None = None
    pod: str | None = None
    kube = False
    for i, seg in enumerate(segments):
        parent = segments[i - 1] if i else ""
        if seg.startswith("kubepods"):
            kube = True
        if kube:
            m = _POD.fullmatch(seg)
            if m is not None:
                pod = m.group(1).replace("_", "-")
                continue
        m = _SCOPED.fullmatch(seg)
        if m is not None:
            container = Container(_PREFIX_RUNTIME[m.group(1)], m.group(2))
        elif _HEX64.fullmatch(seg):
            if parent == "docker":
                container = Container(DOCKER, seg)
            elif pod is not None:
                container = Container(KUBERNETES, seg)
        elif seg.startswith("lxc.payload.") and len(seg) > len("lxc.payload."):
            container = Container(LXC, seg[len("lxc.payload.") :])
        elif parent == "lxc" and i == 2 and segments[0] == "":
            container = Container(LXC, seg)
        else:
            m = _MACHINE.fullmatch(seg)
            if m is not None and parent == "machine.slice":
                container = Container(NSPAWN, systemd_unescape(m.group(1) or m.group(2)))
    return container, pod


def unit_of_path(path: str) -> str | None:
    """The systemd unit a cgroup path belongs to: its first non-slice segment, if that is a unit name."""
    for seg in path.split("/"):
        if not seg or seg.endswith(".slice"):
            continue
        for suffix in _UNIT_SUFFIXES:
            if seg.endswith(suffix) and len(seg) > len(suffix):
                return seg
        return None
    return None


def parse_path(path: str) -> CgroupInfo:
    """Container, pod and unit named by one cgroup path (``/system.slice/docker-<id>.scope``)."""
    container, pod = _container_in(path.split("/"))
    return CgroupInfo(container, pod, unit_of_path(path))


def parse_cgroup(text: str) -> CgroupInfo:
    """Parse the whole of ``/proc/PID/cgroup`` (lines ``ID:CONTROLLERS:PATH``).

    The container comes from the first line that names one, in the order v2, ``name=systemd``, the
    other v1 lines; the unit from the v2 line, else the ``name=systemd`` line. Malformed lines are
    skipped.
    """
    v2: list[str] = []
    systemd: list[str] = []
    others: list[str] = []
    for line in text.split("\n"):
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2.append(path)
        elif controllers == "name=systemd":
            systemd.append(path)
        else:
            others.append(path)
    container: Container | None = None
    pod: str | None = None
    for path in (*v2, *systemd, *others):
        info = parse_path(path)
        if info.container is not None or info.pod is not None:
            container, pod = info.container, info.pod
            break
    unit: str | None = None
    for path in (*v2, *systemd):
        unit = unit_of_path(path)
        if unit is not None:
            break
    return CgroupInfo(container, pod, unit)
