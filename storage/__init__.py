"""Tables, the engine/session factory, queries and migrations. Knows nothing of chat platforms."""
