"""HTTP views on Faust's embedded aiohttp server. Importing this package registers them."""

from streams_web import admin, commands, dashboard, deadletters, entities, health, interviews, lag, live, metrics

__all__ = [
    "admin",
    "commands",
    "dashboard",
    "deadletters",
    "entities",
    "health",
    "interviews",
    "lag",
    "live",
    "metrics",
]
