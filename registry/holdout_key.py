"""The capability that lets `move_label` touch a template's holdout label.

The holdout is a frozen baseline: promotions, rollbacks, rollouts and any other
direct `move_label` call are refused on it. Only governance's baseline change
(`governance.baseline`) passes this key; an import-linter contract forbids every
other module from importing it, so no new path can move the holdout by forgetting.
"""

from typing import Final


class HoldoutKey:
    """A token with no data: holding the one instance is the permission."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<holdout key>"


KEY: Final = HoldoutKey()
