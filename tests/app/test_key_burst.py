"""Keys that arrive in one burst (typed fast, pasted, ``tmux send-keys``) are all honoured, in order.

Found by the tmux copy test: ``a`` then ``/`` sent by tmux a moment apart sometimes left the filter in
place. The burst is made here as the terminal driver makes it: both Key events are queued on the app
before either is handled (Pilot's ``press`` waits for each key to be handled, which hides the race).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from sockui.app import SockuiApp

from .conftest import Loopback
from .support import ONE_SNAPSHOT, settle, wait_for_snapshot, wait_until


async def test_key_just_before_slash_is_not_lost(loopback: Loopback) -> None:
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_snapshot(pilot, app)
        app.post_message(events.Key("a", "a"))
        app.post_message(events.Key("slash", "/"))
        await wait_until(pilot, lambda: isinstance(app.focused, Input), what="/ to open the filter")
        await settle(pilot, app)
        assert app.main.view.filter.source == "", "a did not show everything"


async def test_burst_without_slash_is_honoured(loopback: Loopback) -> None:
    """The control: the same burst shape with a non-priority second key loses nothing."""
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_snapshot(pilot, app)
        binding = app.main.view.binding
        app.post_message(events.Key("a", "a"))
        app.post_message(events.Key("b", "b"))
        await wait_until(pilot, lambda: app.main.view.binding != binding, what="b to take effect")
        await settle(pilot, app)
        assert app.main.view.filter.source == "", "a did not show everything"
