"""Cgroup paths and /proc/PID/cgroup files as each runtime and systemd write them, parsed to labels."""

from __future__ import annotations

import pytest

from sockui.collect.cgroup_labels import (
    CONTAINERD,
    CRIO,
    DOCKER,
    KUBERNETES,
    LXC,
    NSPAWN,
    PODMAN,
    CgroupInfo,
    Container,
    parse_cgroup,
    parse_path,
    systemd_unescape,
    unit_of_path,
)
from sockui.collect.netns_labels import label_of

ID = "3f2a9c1b7e6d5a4f" * 4
POD = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
POD_ = POD.replace("-", "_")


@pytest.mark.parametrize(
    ("path", "container", "pod"),
    [
        (f"/docker/{ID}", Container(DOCKER, ID), None),
        (f"/system.slice/docker-{ID}.scope", Container(DOCKER, ID), None),
        (f"/sockui-test-1a2b3c/docker/{ID}", Container(DOCKER, ID), None),
        (f"/docker/{'a' * 64}/docker/{ID}", Container(DOCKER, ID), None),  # docker in docker: the inner one
        (f"/system.slice/cri-containerd-{ID}.scope", Container(CONTAINERD, ID), None),
        (f"/machine.slice/crio-{ID}.scope", Container(CRIO, ID), None),
        (f"/machine.slice/libpod-{ID}.scope/container", Container(PODMAN, ID), None),
        (
            f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope",
            Container(PODMAN, ID),
            None,
        ),
        (f"/libpod_parent/libpod-{ID}", Container(PODMAN, ID), None),
        (
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_}.slice/cri-containerd-{ID}.scope",
            Container(CONTAINERD, ID),
            POD,
        ),
        (f"/kubepods.slice/kubepods-pod{POD_}.slice/crio-{ID}.scope", Container(CRIO, ID), POD),
        (f"/kubepods/besteffort/pod{POD}/{ID}", Container(KUBERNETES, ID), POD),
        (f"/kubepods/pod{POD}", None, POD),
        ("/lxc.payload.web-1/init.scope", Container(LXC, "web-1"), None),
        ("/lxc/legacy", Container(LXC, "legacy"), None),
        ("/machine.slice/machine-qemu\\x2d1\\x2dvm.scope", Container(NSPAWN, "qemu-1-vm"), None),
        ("/machine.slice/systemd-nspawn@box.service/payload", Container(NSPAWN, "box"), None),
    ],
)
def test_containers(path: str, container: Container | None, pod: str | None) -> None:
    info = parse_path(path)
    assert (info.container, info.pod) == (container, pod)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/process_api/5db9f3549d6d19527ce76ea25aea043a",  # 32 hex digits: not a container id
        f"/machine.slice/libpod-conmon-{ID}.scope",  # podman's monitor, not in the container
        f"/machine.slice/crio-conmon-{ID}.scope",
        f"/elsewhere/{ID}",  # a bare id under no runtime's directory
        f"/system.slice/docker-{ID[:12]}.scope",  # too short
        "/lxc.monitor.web",  # LXC's monitor runs outside the container
        "/lxc.payload.",
        f"/docker/{ID.upper()}",
        "/machine-x.scope",  # not under machine.slice
        f"/pod{POD}/{ID}",  # a pod-looking segment outside kubepods
    ],
)
def test_not_containers(path: str) -> None:
    assert parse_path(path).container is None


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/nginx.service", "nginx.service"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service", "user@1000.service"),
        ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope"),
        ("/init.scope", "init.scope"),
        (
            "/system.slice/systemd-fsck@dev-disk-by\\x2duuid-1.service",
            "systemd-fsck@dev-disk-by\\x2duuid-1.service",
        ),
        ("/system.slice", None),
        ("/", None),
        ("/docker/abc", None),  # the first non-slice segment is no unit
        ("/system.slice/.service", None),
    ],
)
def test_units(path: str, unit: str | None) -> None:
    assert unit_of_path(path) == unit


def test_cgroup_v2_line_first_then_systemd_then_controllers() -> None:
    hybrid = (
        "9:name=systemd:/system.slice/containerd.service\n"
        "4:memory:/process_api/5db9f3549d6d19527ce76ea25aea043a\n"
        f"3:cpu,cpuacct:/docker/{'b' * 64}\n"
        f"0::/system.slice/docker-{ID}.scope\n"
    )
    assert parse_cgroup(hybrid) == CgroupInfo(Container(DOCKER, ID), None, f"docker-{ID}.scope")
    v1_only = f"12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
    assert parse_cgroup(v1_only) == CgroupInfo(Container(DOCKER, ID), None, None)
    unit_from_systemd = "9:name=systemd:/system.slice/ssh.service\n4:memory:/\n0::/\n"
    assert parse_cgroup(unit_from_systemd) == CgroupInfo(None, None, "ssh.service")
    unit_not_from_controllers = "4:memory:/system.slice/ssh.service\n0::/\n"
    assert parse_cgroup(unit_not_from_controllers) == CgroupInfo()


def test_malformed_and_hostile_lines() -> None:
    assert parse_cgroup("") == CgroupInfo()
    assert parse_cgroup("garbage\n::\n0::relative/path\n\x00\x1b[2J") == CgroupInfo()
    # Colons and tabs are legal in cgroup names (newlines are not): the path is everything after the
    # second colon.
    weird = "0::/system.slice/we:ird\tname\x1b.service\n"
    assert parse_cgroup(weird).unit == "we:ird\tname\x1b.service"
    assert parse_path("/lxc.payload.\x1b]52;c;AAAA\x07").container == Container(LXC, "\x1b]52;c;AAAA\x07")


def test_systemd_unescape_keeps_undecodable_bytes_raw() -> None:
    assert systemd_unescape("qemu\\x2d1") == "qemu-1"
    assert systemd_unescape("a\\xffb") == "a\udcffb"
    assert systemd_unescape("plain") == "plain"


def test_labels_from_info() -> None:
    assert label_of(CgroupInfo(Container(DOCKER, ID), None, "x.scope")) == ID[:12]
    assert label_of(CgroupInfo(Container(LXC, "web"))) == "web"
    assert label_of(CgroupInfo(None, POD)) == "pod 0f1e2d3c"
    assert label_of(CgroupInfo(None, None, "nginx.service")) == "nginx.service"
    assert label_of(CgroupInfo()) is None
