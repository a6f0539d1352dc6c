"""mcpod bridge: runs the stdio `@azure-devops/mcp` and serves it as Streamable HTTP."""

__version__ = "0.1.0"
