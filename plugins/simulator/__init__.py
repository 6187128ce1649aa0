"""The embedded simulator of the Anthropic API and the agent protocol (in progress)."""
