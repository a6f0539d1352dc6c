"""Connection backends: where connections live and how their bridges are reached.

``ConnectionBackend`` (backend.py) is the one interface; ``local.py`` (the
embedded default: database rows and bridge subprocesses) and ``kubernetes.py``
(McpConnection resources, Secrets and pods) implement it.
"""
