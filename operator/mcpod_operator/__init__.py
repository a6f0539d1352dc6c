"""mcpod operator."""
