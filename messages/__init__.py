"""Words and their rendering: the neutral Reply, the catalog, and one renderer per platform."""
