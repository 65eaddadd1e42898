"""The command palette (``ctrl+p``): every action that works where it was opened, by name.

Built from the active bindings of the screen under the palette, like the help screen, so it lists
exactly what the keys do and cannot drift from them; each hit shows its key.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from sockui.screens.help import help_actions


class ActionCommands(Provider):
    """One command per active binding of the screen the palette was opened from."""

    async def discover(self) -> Hits:
        """Everything, for an empty query."""
        for title, help_text, run in help_actions(self.screen):
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy match on the action's name and description."""
        matcher = self.matcher(query)
        for title, help_text, run in help_actions(self.screen):
            score = max(matcher.match(title), matcher.match(help_text))
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(run), help=help_text)
