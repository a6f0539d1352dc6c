"""Database models, one module per entity family.

Importing this package registers every table on ``SQLModel.metadata``, which
Alembic compares against.  A new family: add its module and import it here.
"""

from .admin_events import AdminEvent
from .api_tokens import ApiToken
from .connections import LocalConnection, ToolCatalogue
from .mcp_sessions import McpSession
from .oauth import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from .passkeys import Passkey
from .tool_calls import ToolCall
from .users import Invite, User
from .web_sessions import WebAuthnChallenge, WebSession

__all__ = [
    "AdminEvent",
    "ApiToken",
    "Invite",
    "LocalConnection",
    "McpSession",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthConsent",
    "OAuthToken",
    "Passkey",
    "ToolCall",
    "ToolCatalogue",
    "User",
    "WebAuthnChallenge",
    "WebSession",
]
