"""Socket owners from a fake /proc tree under tmp_path: links, names, incremental refresh, forked walk.

The fake tree has ``<pid>/comm`` files and ``<pid>/fd/<n>`` symlinks to ``socket:[inode]``, ``pipe:[n]``
or a path, as procfs shows them.

One thing a fake tree cannot copy: :func:`procfs.fd_count` reads ``st_size`` of ``<pid>/fd``, which
procfs sets to the number of open fds but a real filesystem sets to the directory's allocated size
(4096 on ext4 whatever a few entries; tmpfs and btrfs change it per entry). So the tests make "the fd
count changed" happen by growing the directory with padding entries until its ``st_size`` moves
(:func:`grow`), and "the fd count did not change" by swapping a link in place (same entries, same size).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from sockui.collect import forkscan
from sockui.collect.procfs import OwnerMap, fd_count, list_pids, read_comm, scan_all, scan_fds, scan_process
from sockui.model.socket import Owner


def make_proc(root: Path, pid: int, comm: bytes, fds: dict[int, str]) -> Path:
    """``root/<pid>`` with a comm file and one symlink per fd."""
    piddir = root / str(pid)
    (piddir / "fd").mkdir(parents=True)
    (piddir / "comm").write_bytes(comm)
    for fd, target in fds.items():
        os.symlink(target, piddir / "fd" / str(fd))
    return piddir


def relink(root: Path, pid: int, fd: int, target: str) -> None:
    """Point an fd at something else without changing the number of entries."""
    link = root / str(pid) / "fd" / str(fd)
    link.unlink()
    os.symlink(target, link)


def grow(root: Path, pid: int) -> None:
    """Make ``st_size`` of ``<pid>/fd`` change, as opening fds changes it on procfs.

    Padding entries are regular files with long names: they are not symlinks, so the owner scan
    skips them (readlink fails with EINVAL, as for an fd closed while listing).
    """
    fd_dir = root / str(pid) / "fd"
    before = os.stat(fd_dir).st_size
    for i in range(500):
        (fd_dir / f"pad-{i:03d}-{'x' * 200}").touch()
        if os.stat(fd_dir).st_size != before:
            return
    raise AssertionError("the directory size never changed")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Three processes: 100 (nginx), 200 (a name with a newline) sharing inode 2002, 300 unreadable."""
    make_proc(
        tmp_path,
        100,
        b"nginx\n",
        {3: "socket:[1001]", 4: "pipe:[5]", 5: "/dev/null", 7: "socket:[2002]", 8: "anon_inode:[eventpoll]"},
    )
    make_proc(tmp_path, 200, b"we\nird\n", {9: "socket:[2002]", 1: "socket:[2002]", 2: "socket:[oops]"})
    # 300's fd "directory" is a file: opening it fails like an fd table we may not read.
    (tmp_path / "300").mkdir()
    (tmp_path / "300" / "comm").write_bytes(b"locked\n")
    (tmp_path / "300" / "fd").write_bytes(b"not a directory")
    # Entries that are not processes.
    (tmp_path / "net").mkdir()
    (tmp_path / "12abc").mkdir()
    os.symlink("100", tmp_path / "self")
    return tmp_path


def loaded(tree: Path) -> OwnerMap:
    owners = OwnerMap(proc_root=str(tree))
    owners.refresh(full=True)
    return owners


# --- small readers ----------------------------------------------------------------------------------


def test_list_pids_only_numeric(tree: Path) -> None:
    assert sorted(list_pids(str(tree))) == [100, 200, 300]
    assert list_pids(str(tree / "missing")) == []


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"nginx\n", "nginx"),
        (b"nginx", "nginx"),
        (b"we\nird\n", "we\nird"),  # only the kernel's trailing newline goes
        (b"two\n\n", "two\n"),
        (b"\x1b[31mred\n", "\x1b[31mred"),  # kept exact: escaping is the display's job
        (b"caf\xe9\n", "caf\udce9"),  # not UTF-8: surrogateescape
        (b"\n", ""),
    ],
)
def test_read_comm(tmp_path: Path, raw: bytes, name: str) -> None:
    make_proc(tmp_path, 42, raw, {})
    assert read_comm(str(tmp_path), 42) == name


def test_read_comm_gone(tmp_path: Path) -> None:
    assert read_comm(str(tmp_path), 4242) == ""


def test_scan_fds_keeps_sockets_only(tree: Path) -> None:
    assert scan_fds(str(tree), 100) == {3: 1001, 7: 2002}
    assert scan_fds(str(tree), 200) == {9: 2002, 1: 2002}  # socket:[oops] skipped


def test_scan_fds_unreadable_and_gone(tree: Path) -> None:
    assert scan_fds(str(tree), 300) is None
    with pytest.raises(FileNotFoundError):
        scan_fds(str(tree), 999)


def test_fd_count_gone_is_negative(tree: Path) -> None:
    assert fd_count(str(tree), 999) == -1
    assert fd_count(str(tree), 100) == os.stat(tree / "100" / "fd").st_size


def test_scan_process(tree: Path) -> None:
    scan = scan_process(str(tree), 200)
    assert scan is not None
    pid, count, name, sockets, netns, label = scan
    assert (pid, name, sockets) == (200, "we\nird", {9: 2002, 1: 2002})
    assert netns == 0  # the fake tree has no ns/net link: unknown
    assert label is None  # nor a cgroup file: no container
    assert count == fd_count(str(tree), 200)
    assert scan_process(str(tree), 999) is None
    # Exited between the stat and the walk: the count is given, the directory is gone.
    assert scan_process(str(tree), 999, count=4) is None


def test_scan_all(tree: Path) -> None:
    scans = {s[0]: s for s in scan_all(str(tree))}
    assert set(scans) == {100, 200, 300}
    assert scans[300][3] is None
    assert scans[100][2:] == ("nginx", {3: 1001, 7: 2002}, 0, None)
    assert {s[0] for s in scan_all(str(tree), skip_pid=200)} == {100, 300}


# --- OwnerMap ---------------------------------------------------------------------------------------


def test_owners_found_and_sorted(tree: Path) -> None:
    owners = loaded(tree)
    assert owners.owners(1001) == (Owner(100, 3, "nginx"),)
    # Shared by two processes, and twice by one of them: sorted by (pid, fd).
    assert owners.owners(2002) == (
        Owner(100, 7, "nginx"),
        Owner(200, 1, "we\nird"),
        Owner(200, 9, "we\nird"),
    )
    assert owners.owners(5) == ()  # a pipe's number is not a socket inode
    assert set(owners.socket_inodes()) == {1001, 2002}
    assert owners.name(200) == "we\nird"
    assert owners.name(999) == ""
    assert owners.scanned_last == 3


def test_unreadable_fd_table_counted(tree: Path) -> None:
    owners = loaded(tree)
    assert owners.unreadable_pids == 1
    assert owners.name(300) == "locked"


def test_vanished_pid_drops_out_on_incremental_refresh(tree: Path) -> None:
    owners = loaded(tree)
    shutil.rmtree(tree / "200")
    owners.refresh()
    assert owners.owners(2002) == (Owner(100, 7, "nginx"),)
    assert owners.name(200) == ""
    assert owners.scanned_last == 0  # nothing else changed: nobody rescanned


def test_vanished_pid_drops_out_on_full_refresh(tree: Path) -> None:
    owners = loaded(tree)
    shutil.rmtree(tree / "100")
    owners.refresh(full=True)
    assert owners.owners(1001) == ()
    assert owners.owners(2002) == (Owner(200, 1, "we\nird"), Owner(200, 9, "we\nird"))
    assert 1001 not in set(owners.socket_inodes())


def test_fd_directory_gone_while_pid_remains(tree: Path) -> None:
    owners = loaded(tree)
    shutil.rmtree(tree / "100" / "fd")  # a zombie: the pid is listed, its fd table is not
    owners.refresh()
    assert owners.owners(1001) == ()
    assert owners.owners(2002) == (Owner(200, 1, "we\nird"), Owner(200, 9, "we\nird"))


def test_changed_fd_count_triggers_rescan(tree: Path) -> None:
    owners = loaded(tree)
    os.symlink("socket:[3003]", tree / "100" / "fd" / "11")
    grow(tree, 100)
    owners.refresh()
    assert owners.owners(3003) == (Owner(100, 11, "nginx"),)
    assert owners.scanned_last == 1  # 100 only; 200 and 300 kept as they were
    assert owners.owners(2002)[1:] == (Owner(200, 1, "we\nird"), Owner(200, 9, "we\nird"))


def test_unchanged_fd_count_is_not_rescanned(tree: Path) -> None:
    owners = loaded(tree)
    relink(tree, 100, 3, "socket:[4004]")  # fd 3 closed and reopened within one interval
    owners.refresh()
    # The cheap signals cannot see this; the map keeps the old link until a rescan is triggered.
    assert owners.scanned_last == 0
    assert owners.owners(4004) == ()
    assert owners.owners(1001) == (Owner(100, 3, "nginx"),)


def test_vanished_inode_triggers_rescan_of_its_holders(tree: Path) -> None:
    owners = loaded(tree)
    relink(tree, 100, 3, "socket:[4004]")
    owners.refresh(vanished={1001, 777})  # 777: never held by anyone, ignored
    assert owners.scanned_last == 1
    assert owners.owners(1001) == ()
    assert owners.owners(4004) == (Owner(100, 3, "nginx"),)


def test_vanished_shared_inode_rescans_every_holder(tree: Path) -> None:
    owners = loaded(tree)
    relink(tree, 100, 7, "socket:[5005]")
    relink(tree, 200, 9, "socket:[5005]")
    owners.refresh(vanished={2002})
    assert owners.scanned_last == 2
    assert owners.owners(2002) == (Owner(200, 1, "we\nird"),)
    assert owners.owners(5005) == (Owner(100, 7, "nginx"), Owner(200, 9, "we\nird"))


def test_new_pid_is_scanned(tree: Path) -> None:
    owners = loaded(tree)
    make_proc(tree, 400, b"newcomer\n", {0: "socket:[6006]"})
    owners.refresh()
    assert owners.scanned_last == 1
    assert owners.owners(6006) == (Owner(400, 0, "newcomer"),)


def test_pid_becoming_unreadable(tree: Path) -> None:
    owners = loaded(tree)
    shutil.rmtree(tree / "200" / "fd")
    (tree / "200" / "fd").write_bytes(b"x" * 12345)  # another size: counts as a change
    owners.refresh()
    assert owners.unreadable_pids == 2
    assert owners.owners(2002) == (Owner(100, 7, "nginx"),)  # no stale owner kept


def test_periodic_full_scan(tree: Path) -> None:
    owners = loaded(tree)
    assert not owners.needs_full_scan()
    relink(tree, 100, 3, "socket:[4004]")
    owners.FULL_SCAN_EVERY = 0.0  # the safety net is due
    assert owners.needs_full_scan()
    owners.refresh()
    assert owners.scanned_last == 3
    assert owners.owners(4004) == (Owner(100, 3, "nginx"),)


def test_first_refresh_is_full(tree: Path) -> None:
    owners = OwnerMap(proc_root=str(tree))
    assert owners.needs_full_scan()
    owners.refresh()
    assert owners.scanned_last == 3
    assert owners.owners(1001) == (Owner(100, 3, "nginx"),)


def test_load_full_scan_replaces_everything(tree: Path) -> None:
    owners = loaded(tree)
    owners.load_full_scan([(555, 3, "solo", {4: 1001}, 0, None), (556, 1, "blind", None, 0, None)])
    assert owners.owners(1001) == (Owner(555, 4, "solo"),)
    assert owners.owners(2002) == ()
    assert owners.unreadable_pids == 1
    assert owners.scanned_last == 2


def test_protocol_name_of_a_link_to_nothing(tree: Path) -> None:
    # The fake link does not lead to a socket: no xattr to read, so no protocol (and nothing cached).
    owners = loaded(tree)
    assert owners.protocol_name(1001) is None
    assert owners.protocol_name(31337) is None


# --- forked walk ------------------------------------------------------------------------------------


def test_forkscan_matches_scan_all(tree: Path) -> None:
    if not forkscan.fork_is_safe():
        pytest.skip("more than one thread: forkscan refuses to fork")
    pending = forkscan.start(str(tree))
    assert pending is not None
    result = pending.result()
    assert result is not None
    assert sorted(result) == sorted(scan_all(str(tree)))
    # marshal kept the shapes: tuples with int-keyed dicts, None for the unreadable table.
    by_pid = {s[0]: s for s in result}
    assert by_pid[200] == (200, fd_count(str(tree), 200), "we\nird", {9: 2002, 1: 2002}, 0, None)
    assert by_pid[300][3] is None
    # Loading the forked result gives the same map as walking inline.
    forked, inline = OwnerMap(str(tree)), loaded(tree)
    forked.load_full_scan(result)
    assert [forked.owners(i) for i in (1001, 2002)] == [inline.owners(i) for i in (1001, 2002)]


def test_forkscan_cancel_reaps_child(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not forkscan.fork_is_safe():
        pytest.skip("more than one thread: forkscan refuses to fork")
    children: list[int] = []
    real_fork = os.fork

    def recording_fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    pending = forkscan.start(str(tree))
    assert pending is not None and len(children) == 1
    pending.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0], os.WNOHANG)  # already reaped: no zombie left behind


def test_forkscan_refuses_with_threads(monkeypatch: pytest.MonkeyPatch, tree: Path) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert not forkscan.fork_is_safe()
    assert forkscan.start(str(tree)) is None
