"""Interfaces: thin adapters from a UI's conversation (Chainlit, Slack, MCP) to a `Session` and
the agent. What every interface needs (photos in, messages in, replies and pictures out) is in
`conversation`, so an adapter only translates."""
