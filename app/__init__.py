"""interview-streams. ``faust -A app worker`` loads this package and finds ``app.app``.

The Faust app, with its agents, views and commands, is loaded on first access to ``app.app``, so
``from app.bus import KafkaProducerManager`` (the client other services use) does not import Faust,
the agents or langchain.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    return _load_faust_app()


def _load_faust_app() -> Any:
    # Importing these registers agents, views and commands on the app (app.main first).
    import agents  # noqa: F401
    import streams_web  # noqa: F401
    from app import cli, topics  # noqa: F401
    from app.main import app

    @app.task
    async def _declare_topics() -> None:
        await topics.declare_all()

    globals()["app"] = app
    return app
