"""``/mcp`` for agents: a proxy built per request and bound to one user.

- ``endpoint.py``: the HTTP surface (auth, Origin, body limit, both protocol generations);
- ``protocol.py``: JSON-RPC and MCP wire shapes (pure);
- ``naming.py``: ``<slug>__<tool>`` names (pure);
- ``routing.py``: which pod may receive a caller's request — the label re-check (pure);
- ``proxy.py``: ``UserProxy``: tools/list and tools/call for one user;
- ``catalogue.py``: the per-connection tool catalogue cache;
- ``sessions.py``: 2025-11-25 sessions in the database (any replica serves any request);
- ``forward.py``: the HTTP call to a bridge, with a timeout;
- ``activity.py``: the throttled last-activity bump;
- ``feature.py``: wires it all into the app.
"""
