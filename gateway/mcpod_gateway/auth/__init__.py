"""Who is calling: people (passkeys, browser sessions) and agents (bearer tokens)."""
