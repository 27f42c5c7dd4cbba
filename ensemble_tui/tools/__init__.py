"""The team tools the agents call, served over MCP."""
