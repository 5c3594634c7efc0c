"""HTTP views on Faust's embedded aiohttp server. Importing this package registers them."""

from streams_web import admin, commands, health, interviews

__all__ = ["admin", "commands", "health", "interviews"]
