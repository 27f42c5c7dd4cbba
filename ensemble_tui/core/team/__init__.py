"""The team itself: the coordinator that owns its state, its two ports (`TeamTools` for
the agents, `TeamControl` for the human), its typed events and the read model."""
