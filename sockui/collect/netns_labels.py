"""Labels for processes and network namespaces, from cgroup paths and, where readable, a runtime's state file.

Nothing here talks to a container runtime's daemon or API (spec section 3): the kernel (``/proc/PID/cgroup``,
parsed by :mod:`sockui.collect.cgroup_labels`) and files on disk only.

A process's label (:func:`process_label`), the first rule that applies:

1. In a container: the container's name where it is known (LXC and nspawn: the name in the cgroup path;
   docker: ``<docker_root>/containers/<id>/config.v2.json`` key ``Name``, its leading ``/`` stripped;
   podman and CRI-O: ``containers.json`` of containers/storage, ``names[0]``), else its short id (the first
   12 hex digits).
2. In a kubernetes pod whose container cannot be told: ``pod <the first 8 characters of the pod uid>``.
3. In a systemd unit: the unit (``nginx.service``, ``user@1000.service``).
4. Otherwise None.

A network namespace's label (:func:`label_namespaces`), the first rule that applies:

1. ``host`` for sockui's own namespace.
2. Its ``ip netns`` name.
3. The container of the processes in it, when all of them that are in a container agree (a host process
   that entered it, e.g. by ``nsenter``, does not count against it): the container's name or short id.
4. When those disagree but all are in one kubernetes pod (a pod's containers share one namespace):
   ``pod <uid prefix>``.
5. ``net:[INODE]``.

State files are read best effort and never fatally: regular files only, size-capped (a larger file is
ignored), and any error (they are root's: EACCES when unprivileged; bad JSON; nesting too deep) means "no
name". What a file gave is cached by (inode, size, mtime), so keeping one :class:`ContainerNames` across
refreshes rereads only files that changed. Names are kept raw (they are untrusted: the UI escapes them).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sockui.collect.cgroup_labels import (
    CRIO,
    DOCKER,
    LXC,
    NSPAWN,
    POD_PREFIX,
    PODMAN,
    CgroupInfo,
    Container,
    parse_cgroup,
)

if TYPE_CHECKING:  # netns imports procfs, which labels processes with this module
    from sockui.collect.netns import NetnsDiscovery

DOCKER_ROOT = Path("/var/lib/docker")
#: containers/storage's list of containers (podman as root, CRI-O).
STORAGE_CONTAINERS = Path("/var/lib/containers/storage/overlay-containers/containers.json")
#: Largest state file read (config.v2.json is a few KiB; containers.json grows with the container count).
MAX_STATE_BYTES = 8 << 20
#: Largest ``/proc/PID/cgroup`` read (a few hundred bytes in practice).
MAX_CGROUP_BYTES = 64 << 10
#: Cached files beyond this many are forgotten all at once (ids of removed containers pile up otherwise).
MAX_CACHED_FILES = 4096

HOST = "host"
#: Where a namespace's label came from (:attr:`NetnsLabel.source`).
SOURCE_HOST = "host"
SOURCE_IP_NETNS = "ip-netns"
SOURCE_CONTAINER = "container"
SOURCE_POD = "pod"
SOURCE_INODE = "inode"


@dataclass(frozen=True, slots=True)
class NetnsLabel:
    """How one network namespace is called, and why."""

    inode: int
    label: str
    #: One of SOURCE_HOST, SOURCE_IP_NETNS, SOURCE_CONTAINER, SOURCE_POD, SOURCE_INODE.
    source: str
    #: The container its processes are in, when they agree on one.
    container: Container | None = None
    #: The kubernetes pod uid its processes are in, when they agree on one.
    pod: str | None = None


def _read_capped(path: str | Path, limit: int) -> tuple[os.stat_result, bytes] | None:
    """(stat, contents) of a regular file of at most ``limit`` bytes; None otherwise or on any error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (st, b"".join(chunks)) if size <= limit else None


def _docker_name(doc: Any) -> str | None:
    name = doc.get("Name") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        return None
    name = name[1:] if name.startswith("/") else name
    return name or None


def _storage_names(doc: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    if not isinstance(doc, list):
        return result
    for entry in doc:
        if not isinstance(entry, dict):
            continue
        ident, names = entry.get("id"), entry.get("names")
        if isinstance(ident, str) and isinstance(names, list) and names and isinstance(names[0], str):
            result[ident] = names[0]
    return result


class ContainerNames:
    """Container id -> name, from runtime state files; best effort, cached per file until it changes.

    ``docker_root`` and ``storage_containers`` are parameters so tests can point them at a temporary
    directory. Not thread-safe (one owner).
    """

    def __init__(
        self,
        docker_root: Path = DOCKER_ROOT,
        storage_containers: Path = STORAGE_CONTAINERS,
        max_bytes: int = MAX_STATE_BYTES,
    ) -> None:
        self.docker_root = docker_root
        self.storage_containers = storage_containers
        self.max_bytes = max_bytes
        self._cache: dict[Path, tuple[tuple[int, int, int], Any]] = {}

    def name(self, container: Container) -> str | None:
        """The container's name; None when no readable state file says it."""
        if container.runtime in (LXC, NSPAWN):
            return container.ident
        if container.runtime == DOCKER:
            path = self.docker_root / "containers" / container.ident / "config.v2.json"
            name: str | None = self._load(path, _docker_name)
            return name
        if container.runtime in (PODMAN, CRIO):
            names: dict[str, str] | None = self._load(self.storage_containers, _storage_names)
            return names.get(container.ident) if names else None
        return None

    def _load(self, path: Path, parse: Callable[[Any], Any]) -> Any:
        """``parse(json of path)``, from the cache when the file did not change; None when unreadable."""
        read = _read_capped(path, self.max_bytes)
        if read is None:
            self._cache.pop(path, None)
            return None
        st, data = read
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            value = parse(json.loads(data))
        except (ValueError, RecursionError):  # not JSON (or not UTF-8); nested too deep for the parser
            value = None
        if len(self._cache) >= MAX_CACHED_FILES:
            self._cache.clear()
        self._cache[path] = (signature, value)
        return value


def read_cgroup(pid: int, proc_root: str = "/proc") -> CgroupInfo | None:
    """What ``/proc/PID/cgroup`` says about the process (readable for every process); None if it is gone."""
    read = _read_capped(f"{proc_root}/{pid}/cgroup", MAX_CGROUP_BYTES)
    if read is None:
        return None
    return parse_cgroup(read[1].decode("utf-8", "surrogateescape"))


def pod_label(uid: str) -> str:
    """``pod <uid prefix>`` for a kubernetes pod uid."""
    return f"pod {uid[:POD_PREFIX]}"


def container_label(container: Container, names: ContainerNames | None = None) -> str:
    """The container's name when known, else its short id."""
    name = names.name(container) if names is not None else None
    return name if name else container.short_id


def label_of(info: CgroupInfo, names: ContainerNames | None = None) -> str | None:
    """A process's label from its cgroup information (the rules in the module docstring)."""
    if info.container is not None:
        return container_label(info.container, names)
    if info.pod is not None:
        return pod_label(info.pod)
    return info.unit


def process_label(pid: int, proc_root: str = "/proc", names: ContainerNames | None = None) -> str | None:
    """The label of process ``pid``: container name or short id, pod, systemd unit, or None.

    ``names`` looks container names up in runtime state files; None means a fresh
    :class:`ContainerNames` at the standard paths (pass one to keep its cache across calls).
    """
    info = read_cgroup(pid, proc_root)
    if info is None:
        return None
    return label_of(info, names if names is not None else ContainerNames())


def label_namespaces(
    discovery: NetnsDiscovery, proc_root: str = "/proc", names: ContainerNames | None = None
) -> dict[int, NetnsLabel]:
    """Inode -> label of every namespace in ``discovery`` (the rules in the module docstring)."""
    if names is None:
        names = ContainerNames()
    labels: dict[int, NetnsLabel] = {}
    for ns in discovery.namespaces:
        if ns.own:
            labels[ns.inode] = NetnsLabel(ns.inode, HOST, SOURCE_HOST)
            continue
        containers: set[Container] = set()
        pods: set[str | None] = set()
        for pid in ns.pids:
            info = read_cgroup(pid, proc_root)
            if info is None or (info.container is None and info.pod is None):
                continue
            if info.container is not None:
                containers.add(info.container)
            pods.add(info.pod)
        container = next(iter(containers)) if len(containers) == 1 else None
        pod = next(iter(pods)) if len(pods) == 1 else None
        if ns.name is not None:
            labels[ns.inode] = NetnsLabel(ns.inode, ns.name, SOURCE_IP_NETNS, container, pod)
        elif container is not None:
            label = container_label(container, names)
            labels[ns.inode] = NetnsLabel(ns.inode, label, SOURCE_CONTAINER, container, pod)
        elif pod is not None:
            labels[ns.inode] = NetnsLabel(ns.inode, pod_label(pod), SOURCE_POD, None, pod)
        else:
            labels[ns.inode] = NetnsLabel(ns.inode, f"net:[{ns.inode}]", SOURCE_INODE)
    return labels
