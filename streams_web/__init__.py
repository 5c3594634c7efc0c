"""HTTP views on Faust's embedded aiohttp server. Importing this package registers them."""

from streams_web import health, interviews

__all__ = ["health", "interviews"]
