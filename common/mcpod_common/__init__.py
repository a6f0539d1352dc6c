"""Vocabulary shared by every mcpod component (no kopf, no web framework)."""
