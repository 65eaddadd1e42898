"""Container labels from real cgroups shaped like docker's, and names from a runtime's state files.

A cgroup ``<cgroup2 mount>/sockui-test-<random>/docker/<64 hex>`` is made the way docker's cgroupfs
driver lays them out; a child started in a network namespace of its own (``unshare --net``) is moved
into it, and a second child, in our own namespace, too. Both get the container's short id as their label,
and so does the child's namespace (its only process is in the container) — or the container's name once
a ``config.v2.json`` under a temporary docker root says it. The state-file readers are then tried on
hostile files: too big, not JSON, nested too deep, a FIFO, control characters in the name.
Processes are reaped and cgroups removed (processes moved back first) by finalizers, also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sockui.collect.cgroup_labels import DOCKER, PODMAN, Container
from sockui.collect.netns import discover
from sockui.collect.netns_labels import (
    SOURCE_CONTAINER,
    SOURCE_INODE,
    ContainerNames,
    label_namespaces,
    process_label,
    read_cgroup,
)

from .netns_support import IDLE, Child, cgroup2_mount, cgroup_tree, move_to_cgroup, require_root_and, spawn


@dataclass
class Boxed:
    """A fake docker container: its id, its cgroup, a child alone in its own netns, one in ours."""

    ident: str
    cgroup: Path
    alone: Child
    sharing: Child


@pytest.fixture(scope="module")
def boxed() -> Iterator[Boxed]:
    require_root_and("unshare")
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy is mounted")
    if not os.access(mount, os.W_OK):
        pytest.skip(f"the cgroup v2 hierarchy at {mount} is not writable")
    ident = secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        try:
            leaf = stack.enter_context(
                cgroup_tree(mount, f"sockui-test-{secrets.token_hex(3)}/docker/{ident}")
            )
        except OSError as exc:
            pytest.skip(f"cannot make cgroups under {mount}: {exc}")
        # Started after the cgroups: the stack stops them first, so the cgroups are empty when removed.
        alone = spawn(stack, ["unshare", "--net", "--"], IDLE)
        sharing = spawn(stack, [], IDLE)
        move_to_cgroup(leaf, alone.pid)
        move_to_cgroup(leaf, sharing.pid)
        yield Boxed(ident, leaf, alone, sharing)


def test_process_label_is_the_short_id(boxed: Boxed) -> None:
    info = read_cgroup(boxed.alone.pid)
    assert info is not None and info.container == Container(DOCKER, boxed.ident)
    assert process_label(boxed.alone.pid) == boxed.ident[:12]
    assert process_label(boxed.sharing.pid) == boxed.ident[:12]
    # Ours is in no container: a systemd unit or nothing, never the fake container.
    assert process_label(os.getpid()) != boxed.ident[:12]


def test_namespace_of_a_lone_container_process_gets_its_label(boxed: Boxed, tmp_path: Path) -> None:
    found = discover()
    inode = os.stat(f"/proc/{boxed.alone.pid}/ns/net").st_ino
    ns = found.get(inode)
    assert ns is not None and ns.pids == (boxed.alone.pid,) and ns.names == ()
    assert ns.path == f"/proc/{boxed.alone.pid}/ns/net" and ns.pid == boxed.alone.pid

    no_state = ContainerNames(docker_root=tmp_path / "nothing-here")
    label = label_namespaces(found, names=no_state)[inode]
    assert (label.label, label.source) == (boxed.ident[:12], SOURCE_CONTAINER)
    assert label.container == Container(DOCKER, boxed.ident)

    config = tmp_path / "docker" / "containers" / boxed.ident / "config.v2.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"ID": boxed.ident, "Name": "/web\x1b[31m\u2028x"}))
    names = ContainerNames(docker_root=tmp_path / "docker")
    assert label_namespaces(found, names=names)[inode].label == "web\x1b[31m\u2028x", "kept raw"
    assert process_label(boxed.sharing.pid, names=names) == "web\x1b[31m\u2028x"
    # Our namespace is "host" even though a process of the container shares it.
    own = found.own
    assert own is not None and label_namespaces(found, names=names)[own.inode].label == "host"


def test_namespace_without_container_is_named_by_inode() -> None:
    require_root_and("unshare")
    with contextlib.ExitStack() as stack:
        plain = spawn(stack, ["unshare", "--net", "--"], IDLE)
        inode = os.stat(f"/proc/{plain.pid}/ns/net").st_ino
        label = label_namespaces(discover())[inode]
        assert (label.label, label.source) == (f"net:[{inode}]", SOURCE_INODE)


# -- state files (no privilege needed) ----------------------------------------------------------------

IDENT = "0123456789abcdef" * 4


def _docker_config(root: Path, content: bytes) -> Path:
    path = root / "containers" / IDENT / "config.v2.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_docker_name_rules(tmp_path: Path) -> None:
    names = ContainerNames(docker_root=tmp_path)
    box = Container(DOCKER, IDENT)
    assert names.name(box) is None  # no file
    _docker_config(tmp_path, b'{"Name": "/db"}')
    assert names.name(box) == "db"
    _docker_config(tmp_path, b'{"Name": "/renamed-one"}')  # size changed: read again
    assert names.name(box) == "renamed-one"
    for content in (b'{"Name": "/"}', b'{"Name": 7}', b"[1, 2]", b"not json", b"\xff\xfe{", b"[" * 100_000):
        _docker_config(tmp_path, content)
        assert names.name(box) is None, content[:20]


def test_state_file_reads_are_capped_and_never_block(tmp_path: Path) -> None:
    box = Container(DOCKER, IDENT)
    path = _docker_config(tmp_path, json.dumps({"Name": "/big", "Pad": "x" * 5000}).encode())
    assert ContainerNames(docker_root=tmp_path, max_bytes=1000).name(box) is None
    assert ContainerNames(docker_root=tmp_path).name(box) == "big"
    path.unlink()
    os.mkfifo(path)  # opening a FIFO for reading would wait for a writer; we must not
    assert ContainerNames(docker_root=tmp_path).name(box) is None


def test_podman_names_from_containers_json(tmp_path: Path) -> None:
    listing = tmp_path / "containers.json"
    listing.write_text(
        json.dumps(
            [{"id": IDENT, "names": ["api\x00\x7f"]}, {"id": "f" * 64, "names": []}, "junk", {"id": 3}]
        )
    )
    names = ContainerNames(docker_root=tmp_path, storage_containers=listing)
    assert names.name(Container(PODMAN, IDENT)) == "api\x00\x7f"
    assert names.name(Container(PODMAN, "f" * 64)) is None
    assert names.name(Container(PODMAN, "e" * 64)) is None
    assert names.name(Container(DOCKER, IDENT)) is None  # docker looks in its own place only


def test_process_label_of_a_gone_process_is_none(tmp_path: Path) -> None:
    assert process_label(2**22 + 7, proc_root=str(tmp_path)) is None
    fake = tmp_path / "41"
    fake.mkdir()
    (fake / "cgroup").write_bytes(b"0::/system.slice/caf\xe9.service\n")
    assert process_label(41, proc_root=str(tmp_path)) == "caf\udce9.service"
