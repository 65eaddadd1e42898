"""Network namespaces in the TUI: the Netns column, ``p`` across namespaces, the ``n`` view, the detail
pane, the status bar, hostile labels, and one end-to-end run against a real ``ip netns`` namespace.

Scripted snapshots (a :class:`~.scripted.FixedSource` that also carries ``Snapshot.namespaces``) lay out
a host with its own namespace (``host``: sshd, a curl connected to web-1, a resolver), a container
``web-1`` (nginx's listener and the connection it accepted from curl, a UDP socket, an unbound one), an
``ip netns`` namespace ``cache`` (redis) and a namespace ``db`` that could not be entered. Proves: the
Netns column is drawn only while the snapshot spans namespaces (and not at all once hidden with ``C``);
``p`` from curl lands on nginx's accepted socket in web-1 and ``backspace`` comes back; the namespaces
view lists host first, then by socket count, with the right counts and "not shown: <reason>" for db;
choosing a namespace filters the table to it, replacing a previous namespace choice but ANDed with any
other filter; esc changes nothing; the detail pane names the namespace, the container and the peer's
namespace; the status bar counts sockets per namespace and says how many namespaces are not shown;
labels with ESC, newlines and Rich markup show as inert text everywhere. The last test makes a real
namespace (``ip netns add``), runs a listener and a connected client in it and checks the column and
``p`` on the real collector's records; the namespace and the child are removed even on failure.

Bugs these tests found, now fixed: choosing a namespace matched labels that merely contain its label
(``web-1`` listed ``web-10``); a label with a control character could not be put in a filter, and
choosing it (``n`` or ``=``) killed the app; records of no known namespace (``netns`` 0) were listed as
``net:[0]``, which then matched nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from collect.netns_support import (
    CHILD_PRELUDE,
    add_netns,
    in_netns,
    inode_of_path,
    ns_path,
    random_tag,
    require_root_and,
    spawn,
)
from rich.style import Style
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, SelectionList, Static

from sockui.app import SockuiApp
from sockui.model.netns import HOST, NamespaceInfo
from sockui.model.socket import Binding, InetEndpoint, Snapshot, SocketRecord
from sockui.screens.columns import ColumnsScreen
from sockui.screens.namespaces import NamespacesScreen
from sockui.widgets.socket_table import SocketTable

from .scripted import NEVER, FakeDetails, FixedSource, refresh, udp
from .support import (
    ONE_SNAPSHOT,
    find_on_screen,
    keys_of,
    move_cursor_to,
    screen_text,
    settle,
    static_text,
    tcp,
    wait_for_snapshot,
    wait_until,
)

SIZE = (160, 45)

HOST_NS = 4026531840
WEB_NS = 4026532301
CACHE_NS = 4026532302
DB_NS = 4026532303

#: The table's header line.
HEADER = re.compile(r"^\s*Proto\s")

#: A label (and container name) trying every trick: ESC sequences, a newline, Rich markup and a click.
HOSTILE = "\x1b[31mweb\n[bold]x[/bold][@click=app.quit]"
#: How it must look on screen: control characters as escapes, markup as literal text.
HOSTILE_SHOWN = r"\e[31mweb\n[bold]x[/bold][@click=app.quit]"
HOSTILE_BOX = "\x1b]0;pwn\x07[@click=app.quit]box[/]"
HOSTILE_BOX_SHOWN = r"\e]0;pwn\x07[@click=app.quit]box[/]"


# -- scripted host --------------------------------------------------------------------------------------


class NamespacedSource(FixedSource):
    """A FixedSource whose snapshots also carry ``namespaces`` (what ``n`` and the status bar read)."""

    def __init__(
        self,
        sockets: Iterable[SocketRecord] = (),
        namespaces: dict[int, NamespaceInfo] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(sockets, **kwargs)
        self.namespaces: dict[int, NamespaceInfo] = dict(namespaces or {})

    def stage_namespaces(self, namespaces: dict[int, NamespaceInfo]) -> None:
        """The namespaces the next collection returns."""
        with self._lock:
            self.namespaces = dict(namespaces)

    def collect(self) -> Snapshot:
        snapshot = super().collect()
        with self._lock:
            return dataclasses.replace(snapshot, namespaces=dict(self.namespaces))


def placed(record: SocketRecord, netns: int, label: str, container: str | None = None) -> SocketRecord:
    """``record`` in namespace ``netns`` (labelled ``label``), its owners in ``container``."""
    owners = tuple(o._replace(container=container) for o in record.owners)
    return record._replace(netns=netns, netns_label=label, owners=owners)


def endpoints(record: SocketRecord, local: tuple[str, int], remote: tuple[str, int] | None) -> SocketRecord:
    return record._replace(
        local=InetEndpoint(*local), remote=InetEndpoint(*remote) if remote is not None else None
    )


def host_records() -> list[SocketRecord]:
    """The host's own namespace: 3 sockets (listening, connected to web-1, bound), 3 processes."""
    return [
        placed(endpoints(tcp(1, 22, "LISTEN", pid=4001, name="sshd"), ("0.0.0.0", 22), None), HOST_NS, HOST),
        placed(
            endpoints(
                tcp(2, 40000, pid=4002, name="curl", peer_key=12), ("10.200.0.1", 40000), ("10.200.0.2", 8080)
            ),
            HOST_NS,
            HOST,
        ),
        placed(udp(3, 53, pid=4003, name="resolved"), HOST_NS, HOST),
    ]


def web_records(label: str = "web-1", container: str | None = "web-1") -> list[SocketRecord]:
    """A container's namespace: 4 sockets (one of each binding state), 3 processes."""
    unbound = tcp(14, 0, pid=5003, name="app")._replace(
        state="CLOSE", binding=Binding.UNBOUND, local=None, remote=None
    )
    return [
        placed(
            endpoints(tcp(11, 8080, "LISTEN", pid=5001, name="nginx"), ("10.200.0.2", 8080), None),
            WEB_NS,
            label,
            container,
        ),
        placed(
            endpoints(
                tcp(12, 8080, pid=5001, name="nginx", peer_key=2), ("10.200.0.2", 8080), ("10.200.0.1", 40000)
            ),
            WEB_NS,
            label,
            container,
        ),
        placed(udp(13, 5353, pid=5002, name="dnsmasq"), WEB_NS, label, container),
        placed(unbound, WEB_NS, label, container),
    ]


def cache_records() -> list[SocketRecord]:
    """An ``ip netns`` namespace: one listener."""
    return [placed(tcp(21, 6379, "LISTEN", pid=6001, name="redis"), CACHE_NS, "cache")]


HOST_KEYS = [1, 2, 3]
WEB_KEYS = [11, 12, 13, 14]
UNREAD_REASON = "could not be entered (EPERM)"


def all_namespaces(web_label: str = "web-1", web_container: str | None = None) -> dict[int, NamespaceInfo]:
    return {
        HOST_NS: NamespaceInfo(HOST_NS, HOST, own=True, pid=1, path="/proc/1/ns/net"),
        WEB_NS: NamespaceInfo(
            WEB_NS, web_label, own=False, ip_name="ns-web", container=web_container, pid=5001
        ),
        CACHE_NS: NamespaceInfo(CACHE_NS, "cache", own=False, ip_name="cache", path="/run/netns/cache"),
        DB_NS: NamespaceInfo(DB_NS, "db", own=False, container="postgres", pid=7001, unread=UNREAD_REASON),
    }


def spanning_host() -> NamespacedSource:
    """host, web-1 and cache with sockets; db unread."""
    return NamespacedSource([*host_records(), *web_records(), *cache_records()], all_namespaces())


def host_only() -> NamespacedSource:
    return NamespacedSource(host_records(), {HOST_NS: all_namespaces()[HOST_NS]})


def make_app(source: FixedSource, filter_text: str = "") -> SockuiApp:
    return SockuiApp(filter_text=filter_text, interval=NEVER, source=lambda: source, details=FakeDetails())


# -- reading the screen -------------------------------------------------------------------------------


def header_line(app: SockuiApp) -> str:
    lines = screen_text(app)
    found = next((line for line in lines if HEADER.match(line)), None)
    assert found is not None, "no table header on screen:\n" + "\n".join(lines)
    return found


def row_line(app: SockuiApp, *needles: str) -> str:
    """The screen line showing every one of ``needles``."""
    lines = screen_text(app)
    found = next((line for line in lines if all(n in line for n in needles)), None)
    assert found is not None, f"no line shows {needles}:\n" + "\n".join(lines)
    return found


def column_cell(app: SockuiApp, line: str, title: str) -> str:
    """The text under ``title`` in ``line`` (up to the next column's start)."""
    header = header_line(app)
    start = header.index(title)
    after = re.search(r"\S", header[start + len(title) :])
    end = start + len(title) + after.start() if after else len(line)
    return line[start:end].strip()


def cursor(app: SockuiApp) -> SocketRecord:
    record = app.main.table.cursor_record
    assert record is not None, "no cursor row"
    return record


def ns_screen(app: SockuiApp) -> NamespacesScreen | None:
    return app.screen if isinstance(app.screen, NamespacesScreen) else None


def ns_rows(screen: NamespacesScreen) -> list[list[str]]:
    """The namespaces table's cells as plain text, in display order."""
    table = screen.query_one("#ns-table", DataTable)
    rows = []
    for index in range(table.row_count):
        rows.append([c.plain if isinstance(c, Text) else str(c) for c in table.get_row_at(index)])
    return rows


async def open_namespaces(pilot: Pilot[Any], app: SockuiApp) -> NamespacesScreen:
    await pilot.press("n")
    screen: NamespacesScreen = await wait_until(pilot, lambda: ns_screen(app), what="the namespaces view")
    await pilot.pause()
    return screen


async def choose_namespace(pilot: Pilot[Any], app: SockuiApp, label: str) -> None:
    """Open ``n``, move to ``label``'s row with the arrow keys, press enter; wait for the rows."""
    screen = await open_namespaces(pilot, app)
    labels = [row[0] for row in ns_rows(screen)]
    table = screen.query_one("#ns-table", DataTable)
    target = labels.index(label)
    for _ in range(len(labels) + 1):
        if table.cursor_row == target:
            break
        await pilot.press("down" if target > table.cursor_row else "up")
    assert table.cursor_row == target
    await pilot.press("enter")
    await wait_until(pilot, lambda: ns_screen(app) is None, what="the namespaces view to close")
    await settle(pilot, app)


def assert_inert(app: SockuiApp, lines: list[str], needles: Iterable[str]) -> None:
    """No raw ESC/BEL on screen, every needle shown literally, none of its cells a click action."""
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text, "a raw control character reached the screen"
    for needle in needles:
        where = find_on_screen(lines, needle)
        assert where is not None, f"{needle!r} is not shown literally:\n{text}"
        x, y = where
        for dx in range(len(needle)):
            style: Style = app.screen.get_style_at(x + dx, y)
            assert "@click" not in style.meta, f"{needle!r} is live markup at ({x + dx}, {y})"
    assert app.is_running and app.return_code is None


# -- 1. the Netns column ------------------------------------------------------------------------------


async def test_netns_column_only_while_the_snapshot_spans_namespaces() -> None:
    source = host_only()
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert sorted(keys_of(table)) == HOST_KEYS
        assert "Netns" not in app.main.table.drawn_columns
        assert "Netns" not in header_line(app), "one namespace: no Netns column"
        assert "Proto" in header_line(app) and "State" in header_line(app)

        source.stage([*host_records(), *web_records(), *cache_records()])
        source.stage_namespaces(all_namespaces())
        await refresh(pilot, app)
        await pilot.pause()
        assert "Netns" in table.drawn_columns
        header = header_line(app)
        assert re.match(r"\s*Proto\s+Netns\s+State", header), f"Netns right after Proto: {header!r}"
        assert column_cell(app, row_line(app, "sshd"), "Netns") == "host"
        assert column_cell(app, row_line(app, "nginx", "10.200.0.1:40000"), "Netns") == "web-1"
        assert column_cell(app, row_line(app, "redis"), "Netns") == "cache"

        source.stage(host_records())
        source.stage_namespaces({HOST_NS: all_namespaces()[HOST_NS]})
        await refresh(pilot, app)
        await pilot.pause()
        # The snapshot has one namespace: the column goes (web-1's rows linger one refresh, as closed).
        assert [table.status_of(k) for k in WEB_KEYS] == ["closed"] * 4
        assert "Netns" not in table.drawn_columns
        assert "Netns" not in header_line(app), "back to one namespace: the column goes"
        assert "host" not in row_line(app, "sshd").split(), "no label left in the row"
        await refresh(pilot, app)
        assert sorted(keys_of(table)) == HOST_KEYS
        assert "Netns" not in header_line(app)


async def test_netns_column_hidden_with_the_chooser_stays_hidden() -> None:
    source = host_only()
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("C")
        chooser = await wait_until(
            pilot, lambda: app.screen if isinstance(app.screen, ColumnsScreen) else None, what="the chooser"
        )
        await pilot.pause()
        options = chooser.query_one(SelectionList)
        assert "Netns" in options.selected, "Netns is chosen by default"
        titles = [options.get_option_at_index(i).value for i in range(options.option_count)]
        for _ in range(len(titles) + 1):
            if options.highlighted == titles.index("Netns"):
                break
            await pilot.press("down")
        await pilot.press("space")
        assert "Netns" not in options.selected
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the chooser to close")

        source.stage([*host_records(), *web_records(), *cache_records()])
        source.stage_namespaces(all_namespaces())
        await refresh(pilot, app)
        await pilot.pause()
        table = app.main.table
        assert sorted(keys_of(table)) == sorted([*HOST_KEYS, *WEB_KEYS, 21]), "the spanning snapshot is shown"
        assert "Netns" not in table.drawn_columns
        assert "Netns" not in header_line(app), "hidden by the user: not drawn even when spanning"
        assert "web-1" not in row_line(app, "nginx", "10.200.0.1:40000")


# -- 2. p across namespaces ---------------------------------------------------------------------------


async def test_pair_jump_crosses_namespaces_and_back() -> None:
    app = make_app(spanning_host())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await move_cursor_to(pilot, table, 2)
        assert cursor(app).netns == HOST_NS

        await pilot.press("p")
        await pilot.pause()
        landed = cursor(app)
        assert landed.key == 12, "p lands on nginx's accepted socket"
        assert (landed.netns, landed.netns_label) == (WEB_NS, "web-1")

        await pilot.press("backspace")
        await pilot.pause()
        back = cursor(app)
        assert back.key == 2 and back.netns == HOST_NS, "backspace returns to curl's socket in host"

        await move_cursor_to(pilot, table, 12)
        await pilot.press("p")
        await pilot.pause()
        assert cursor(app).key == 2, "and p from web-1's end lands on host's"


# -- 3. the namespaces view ---------------------------------------------------------------------------


async def test_namespaces_view_rows_order_and_counts() -> None:
    app = make_app(spanning_host())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        screen = await open_namespaces(pilot, app)
        rows = ns_rows(screen)
        titles = [str(c.label) for c in screen.query_one("#ns-table", DataTable).ordered_columns]
        counts = ["Sockets", "Listen", "Conn", "Bound", "Unbound", "Procs"]
        assert titles == ["Namespace", "Inode", *counts, "About"]
        # host first although web-1 has more sockets; then by socket count: web-1 4, cache 1, db 0.
        assert [r[0] for r in rows] == ["host", "web-1", "cache", "db"]
        by_label = {r[0]: r for r in rows}
        assert by_label["host"][1:8] == [str(HOST_NS), "3", "1", "1", "1", "0", "3"]
        assert by_label["web-1"][1:8] == [str(WEB_NS), "4", "1", "1", "1", "1", "3"]
        assert by_label["cache"][1:8] == [str(CACHE_NS), "1", "1", "0", "0", "0", "1"]
        assert by_label["db"][1:8] == [str(DB_NS), "0", "0", "0", "0", "0", "0"]
        assert by_label["db"][8] == f"not shown: {UNREAD_REASON}; container postgres"
        assert by_label["web-1"][8] == "ip netns ns-web; app, dnsmasq, nginx"
        assert by_label["host"][8] == "curl, resolved, sshd"
        lines = screen_text(app)
        assert find_on_screen(lines, f"not shown: {UNREAD_REASON}") is not None, "\n".join(lines)
        assert find_on_screen(lines, "Network namespaces: 4  (1 not shown: see About)") is not None


async def test_choosing_a_namespace_filters_then_replaces() -> None:
    app = make_app(spanning_host())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        screen = await open_namespaces(pilot, app)
        assert screen.query_one("#ns-table", DataTable).cursor_row == 0
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: ns_screen(app) is None, what="the view to close")
        await settle(pilot, app)
        assert app.main.view.filter.source == "netns web-1"
        assert sorted(keys_of(table)) == WEB_KEYS
        status = app.main.status.text
        assert "shown 4/8" in status and "netns web-1" in status, status

        await choose_namespace(pilot, app, "host")
        assert app.main.view.filter.source == "netns host", "a namespace choice replaces the previous one"
        assert sorted(keys_of(table)) == HOST_KEYS
        assert "shown 3/8" in app.main.status.text

        # esc, q and n close without touching the filter.
        for key in ("escape", "q", "n"):
            await open_namespaces(pilot, app)
            await pilot.press("down", key)
            await wait_until(pilot, lambda: ns_screen(app) is None, what=f"{key} to close the view")
            await settle(pilot, app)
            assert app.main.view.filter.source == "netns host", key
            assert sorted(keys_of(table)) == HOST_KEYS


async def test_choosing_a_namespace_ands_with_another_filter() -> None:
    app = make_app(spanning_host(), filter_text="tcp")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert sorted(keys_of(table)) == [1, 2, 11, 12, 14, 21]
        await choose_namespace(pilot, app, "web-1")
        assert app.main.view.filter.source == "(tcp) and netns web-1"
        assert sorted(keys_of(table)) == [11, 12, 14], "tcp sockets of web-1 only"


async def test_choosing_a_namespace_shows_that_namespace_only() -> None:
    """``netns LABEL`` from the view must not also match labels that merely contain LABEL."""
    web10 = [
        placed(tcp(31, 9000, "LISTEN", pid=8001, name="api"), 4026532310, "web-10"),
        placed(tcp(32, 9001, "LISTEN", pid=8002, name="api"), 4026532311, "ghost"),
    ]
    source = NamespacedSource(
        [*host_records(), *web_records(), *web10],
        {
            **all_namespaces(),
            4026532310: NamespaceInfo(4026532310, "web-10", own=False),
            4026532311: NamespaceInfo(4026532311, "ghost", own=False),
        },
    )
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await choose_namespace(pilot, app, "web-1")
        assert {r.netns_label for r in table.records()} == {"web-1"}, "choosing web-1 lists web-10 too"
        await choose_namespace(pilot, app, "host")
        assert {r.netns_label for r in table.records()} == {"host"}, "choosing host lists ghost too"


async def test_choosing_an_unlabelled_namespace_by_inode_label() -> None:
    """A namespace with no name is labelled ``net:[INODE]`` (brackets!): choosing it lists its sockets."""
    anon = 4026532399
    source = NamespacedSource(
        [*host_records(), placed(tcp(41, 7000, "LISTEN", pid=9001, name="anon"), anon, f"net:[{anon}]")],
        {HOST_NS: all_namespaces()[HOST_NS], anon: NamespaceInfo(anon, f"net:[{anon}]", own=False)},
    )
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await choose_namespace(pilot, app, f"net:[{anon}]")
        assert app.main.view.filter.source == f"netns {anon}"  # the inode: brackets are glob syntax
        assert keys_of(app.main.table) == [41]


async def test_choosing_the_unknown_namespace_keeps_its_sockets() -> None:
    source = NamespacedSource([tcp(1, 22, "LISTEN"), tcp(2, 80, "LISTEN")], {})
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        screen = await open_namespaces(pilot, app)
        assert [r[0] for r in ns_rows(screen)] == ["net:[0]"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: ns_screen(app) is None, what="the view to close")
        await settle(pilot, app)
        assert sorted(keys_of(app.main.table)) == [1, 2], f"filter {app.main.view.filter.source!r} hid them"


async def test_narrow_menu_offers_the_namespace() -> None:
    app = make_app(spanning_host(), filter_text="tcp")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await move_cursor_to(pilot, table, 12)
        await pilot.press("equals_sign")
        await wait_until(pilot, lambda: app.screen is not app.main, what="the narrow menu")
        await pilot.pause()
        lines = screen_text(app)
        assert find_on_screen(lines, "network namespace web-1   netns web-1") is not None, "\n".join(lines)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        target = next(i for i, label in enumerate(labels) if "netns web-1" in label)
        for _ in range(len(labels) + 1):
            if options.highlighted == target:
                break
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the menu to close")
        await settle(pilot, app)
        assert app.main.view.filter.source == "(tcp) and netns web-1"
        assert sorted(keys_of(table)) == [11, 12, 14]


# -- 4. the detail pane -------------------------------------------------------------------------------


def detail_text(app: SockuiApp, section: str) -> str:
    return static_text(app.main.detail.query_one(f"#detail-{section}", Static))


async def test_detail_pane_names_namespace_container_and_peer_namespace() -> None:
    source = NamespacedSource(
        [*host_records(), *web_records(container="web-1-ctr"), *cache_records()], all_namespaces()
    )
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await move_cursor_to(pilot, table, 2)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.main.detail.display, what="the detail pane")
        await pilot.pause()
        endpoints_text = detail_text(app, "endpoints")
        assert re.search(rf"^\s*netns host  \(net:\[{HOST_NS}\]\)$", endpoints_text, re.M), endpoints_text
        assert "container" not in endpoints_text, "curl is in no container"
        pair_text = detail_text(app, "pair")
        assert "10.200.0.2:8080  on this host, network namespace web-1" in pair_text, pair_text

        await move_cursor_to(pilot, table, 12)
        await wait_until(pilot, lambda: "web-1" in detail_text(app, "endpoints"), what="the pane to follow")
        endpoints_text = detail_text(app, "endpoints")
        assert re.search(rf"^\s*netns web-1  \(net:\[{WEB_NS}\]\)$", endpoints_text, re.M), endpoints_text
        assert re.search(r"^\s*container web-1-ctr$", endpoints_text, re.M), endpoints_text
        pair_text = detail_text(app, "pair")
        assert "10.200.0.1:40000  on this host, network namespace host" in pair_text, pair_text

        lines = screen_text(app)
        assert find_on_screen(lines, "network namespace host") is not None, "\n".join(lines)
        assert find_on_screen(lines, "container web-1-ctr") is not None, "\n".join(lines)


async def test_detail_pane_same_namespace_peer_says_only_this_host() -> None:
    records = [
        *host_records(),
        *web_records(),
        placed(
            endpoints(
                tcp(15, 41000, pid=5004, name="worker", peer_key=16),
                ("127.0.0.1", 41000),
                ("127.0.0.1", 6000),
            ),
            WEB_NS,
            "web-1",
        ),
        placed(
            endpoints(
                tcp(16, 6000, pid=5004, name="worker", peer_key=15), ("127.0.0.1", 6000), ("127.0.0.1", 41000)
            ),
            WEB_NS,
            "web-1",
        ),
    ]
    app = make_app(NamespacedSource(records, all_namespaces()))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 15)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.main.detail.display, what="the detail pane")
        await pilot.pause()
        pair_text = detail_text(app, "pair")
        assert "127.0.0.1:6000  on this host" in pair_text, pair_text
        assert "network namespace" not in pair_text, "same namespace: nothing more to say"


# -- 5. the status bar --------------------------------------------------------------------------------


def status_lines(app: SockuiApp) -> list[str]:
    return app.main.status.text.splitlines()


async def test_status_bar_counts_per_namespace_and_unread() -> None:
    app = make_app(spanning_host())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        first, second = status_lines(app)
        assert "│  netns 3:  web-1 4  host 3  cache 1" in second, second
        assert "1 netns not shown" in first, first
        assert "needs root" not in first, "we are root (euid 0): privilege is not the reason given"
        lines = screen_text(app)
        assert find_on_screen(lines, "netns 3:  web-1 4  host 3  cache 1") is not None, "\n".join(lines[:3])
        assert find_on_screen(lines, "1 netns not shown") is not None, "\n".join(lines[:3])


async def test_status_bar_unread_without_root_says_needs_root() -> None:
    source = NamespacedSource([*host_records(), *web_records()], all_namespaces(), euid=1000)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        first, second = status_lines(app)
        assert "1 netns not shown (needs root)" in first, first
        assert "netns 2:  web-1 4  host 3" in second, second


async def test_status_bar_one_namespace_says_nothing_of_namespaces() -> None:
    app = make_app(host_only())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        first, second = status_lines(app)
        assert "netns" not in first and "netns" not in second, app.main.status.text


# -- 6. hostile labels --------------------------------------------------------------------------------


def hostile_source() -> NamespacedSource:
    return NamespacedSource(
        [*host_records(), *web_records(label=HOSTILE, container=HOSTILE_BOX), *cache_records()],
        all_namespaces(web_label=HOSTILE, web_container=HOSTILE_BOX),
    )


async def test_hostile_labels_are_inert_everywhere() -> None:
    app = make_app(hostile_source())
    async with app.run_test(size=(220, 50)) as pilot:
        await wait_for_snapshot(pilot, app)
        table: SocketTable = app.main.table
        # The table: the Netns cell (12 cells wide, cut in the middle) shows the escaped label's ends.
        line = row_line(app, "nginx", "10.200.0.1:40000")
        cell = column_cell(app, line, "Netns")
        assert cell.startswith(r"\e[31m") and "…" in cell, f"escaped label expected in the cell: {cell!r}"
        # The status bar: the label, cut to 16 cells in the middle, escaped.
        first, second = status_lines(app)
        assert r"\e[31m" in second and "\x1b" not in second, second
        assert_inert(app, screen_text(app), [r"\e[31m"])

        # The detail pane: the whole label and the container, escaped, markup literal.
        await move_cursor_to(pilot, table, 12)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.main.detail.display, what="the detail pane")
        await pilot.pause()
        endpoints_text = detail_text(app, "endpoints")
        assert f"netns {HOSTILE_SHOWN}  (net:[{WEB_NS}])" in endpoints_text, endpoints_text
        assert f"container {HOSTILE_BOX_SHOWN}" in endpoints_text, endpoints_text
        await move_cursor_to(pilot, table, 2)
        await wait_until(pilot, lambda: "network namespace" in detail_text(app, "pair"), what="the pair")
        assert f"network namespace {HOSTILE_SHOWN}" in detail_text(app, "pair")
        lines = screen_text(app)
        assert_inert(app, lines, [HOSTILE_SHOWN])
        await move_cursor_to(pilot, table, 12)
        await wait_until(pilot, lambda: HOSTILE_BOX_SHOWN in detail_text(app, "endpoints"), what="pane")
        await pilot.pause()
        assert_inert(app, screen_text(app), [HOSTILE_SHOWN, HOSTILE_BOX_SHOWN])
        await pilot.press("escape")

        # The namespaces view: label and About (container) escaped.
        screen = await open_namespaces(pilot, app)
        rows = ns_rows(screen)
        assert rows[1][0] == HOSTILE_SHOWN, rows
        assert f"container {HOSTILE_BOX_SHOWN}" in rows[1][8], rows[1]
        lines = screen_text(app)
        assert_inert(app, lines, [HOSTILE_SHOWN, f"container {HOSTILE_BOX_SHOWN}"])
        await pilot.press("escape")
        await wait_until(pilot, lambda: ns_screen(app) is None, what="the view to close")
        assert app.is_running and app.return_code is None


async def test_choosing_a_hostile_namespace_does_not_crash() -> None:
    app = make_app(hostile_source())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await open_namespaces(pilot, app)
        await pilot.press("down", "enter")
        await pilot.pause()
        await settle(pilot, app)
        assert app.is_running and app.return_code is None, "choosing a hostile label ended the app"
        assert {r.netns for r in app.main.table.records()} == {WEB_NS}
        assert_inert(app, screen_text(app), [])


async def test_narrowing_to_a_hostile_namespace_does_not_crash() -> None:
    app = make_app(hostile_source())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 11)
        await pilot.press("equals_sign")
        await wait_until(pilot, lambda: app.screen is not app.main, what="the narrow menu")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        target = next(i for i, label in enumerate(labels) if label.startswith("network namespace"))
        assert HOSTILE_SHOWN in labels[target], labels[target]
        assert_inert(app, screen_text(app), [f"network namespace {HOSTILE_SHOWN}"])
        for _ in range(len(labels) + 1):
            if options.highlighted == target:
                break
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        await settle(pilot, app)
        assert app.is_running and app.return_code is None, "narrowing to a hostile label ended the app"
        assert {r.netns for r in app.main.table.records()} == {WEB_NS}


# -- 7. end to end: a real ip netns namespace ---------------------------------------------------------

#: In the namespace: a loopback listener, a client connected to it and the accepted socket.
PAIR_CHILD = (
    CHILD_PRELUDE
    + r"""
import struct
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname(), timeout=5)
server, _ = listener.accept()
for s in (client, server):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
report(pid=os.getpid(), port=listener.getsockname()[1],
       inodes={name: os.fstat(s.fileno()).st_ino
               for name, s in (("listener", listener), ("client", client), ("server", server))})
sys.stdin.read()
"""
)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as exits:
        yield exits


async def test_real_netns_column_and_pair_jump(stack: contextlib.ExitStack) -> None:
    require_root_and("ip")
    name = add_netns(stack, f"sockui-test-{random_tag()}-ui")
    netns = inode_of_path(ns_path(name))
    child = spawn(stack, in_netns(name), PAIR_CHILD)
    port = int(child.report["port"])
    inodes: dict[str, int] = child.report["inodes"]

    app = SockuiApp(filter_text=f"port {port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table

        def mine() -> dict[str, SocketRecord] | None:
            by_inode = {r.inode: r for r in table.records()}
            found = {what: by_inode.get(ino) for what, ino in inodes.items()}
            if any(r is None or not r.owners for r in found.values()):
                return None  # not listed yet, or the quick first snapshot without owners
            return {k: r for k, r in found.items() if r is not None}

        records: dict[str, SocketRecord] = await wait_until(pilot, mine, what="the child's three sockets")
        await settle(pilot, app)
        for what, record in records.items():
            assert (record.netns, record.netns_label) == (netns, name), what
            assert child.pid in record.pids, what
        assert app.main.snapshot is not None and app.main.snapshot.index.spans_namespaces
        assert "Netns" in table.drawn_columns
        header = header_line(app)
        assert re.match(r"\s*Proto\s+Netns\s+State", header), header

        # The column is 12 cells wide: the label shows cut in the middle, both ends intact.
        client_port = records["client"].local
        assert isinstance(client_port, InetEndpoint)
        line = row_line(app, f"127.0.0.1:{client_port.port}", f"127.0.0.1:{port}")  # client or server
        cell = column_cell(app, line, "Netns")
        head, _, tail = cell.strip().partition("…")
        assert head and name.startswith(head) and name.endswith(tail), f"{cell!r} does not cut {name!r}"

        await move_cursor_to(pilot, table, records["client"].key)
        await pilot.press("p")
        await pilot.pause()
        landed = cursor(app)
        assert landed.key == records["server"].key, "p lands on the accepted socket"
        assert landed.inode == inodes["server"]
        assert (landed.netns, landed.netns_label) == (netns, name), "in the same namespace"
        await pilot.press("backspace")
        await pilot.pause()
        assert cursor(app).key == records["client"].key

        # The namespaces view lists it, with its three sockets and the child.
        screen = await open_namespaces(pilot, app)
        row = next((r for r in ns_rows(screen) if r[0] == name), None)
        assert row is not None, ns_rows(screen)
        assert row[1:8] == [str(netns), "3", "1", "2", "0", "0", "1"], row
        await pilot.press("escape")
