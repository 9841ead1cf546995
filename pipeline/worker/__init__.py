"""The stream worker: a consumer-group loop around the journey core, and its adapters."""
