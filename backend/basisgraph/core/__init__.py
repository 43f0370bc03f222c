"""The science core: the planted model, node sets, attributions and edge counts (numpy only, no torch)."""
