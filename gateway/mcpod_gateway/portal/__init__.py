"""The people-facing portal: sign-up, sign-in, account (passkeys), tokens.

Every router here is CSRF-protected for state-changing methods.  The
connections and activity pages are placeholders that the /mcp feature replaces.
"""

from __future__ import annotations

from ..features import Feature
from . import account, activity, ceremonies, connections, pages, tokens

FEATURE = Feature(
    name="portal",
    routers=(
        pages.router,
        ceremonies.router,
        account.router,
        tokens.router,
        connections.router,
        activity.router,
    ),
)
