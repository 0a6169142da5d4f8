"""Tables, the engine/session factory, queries and migrations. Knows nothing of chat platforms."""

from storage import models  # noqa: E402,F401 - every table registered before any is used
