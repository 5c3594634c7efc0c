"""interview-streams: `faust -A app worker` loads this package and finds ``app.app``."""

# Register agents, views and topic declaration on the app (import order matters: app first).
import agents  # noqa: F401
import streams_web  # noqa: F401
from app import (
    cli,  # noqa: F401  (faust -A app <command>)
    topics,
)
from app.main import app


@app.task
async def _declare_topics() -> None:
    await topics.declare_all()


__all__ = ["app"]
