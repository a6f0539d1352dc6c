"""mcpod gateway."""
