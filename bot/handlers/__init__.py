"""Handlers, one module per conversation area; each exposes ``register(application)``."""
