"""mcpod bridge."""
