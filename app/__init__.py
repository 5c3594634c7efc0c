"""interview-streams: `faust -A app worker` loads this package and finds ``app.app``."""

from app.main import app

# Register agents, views and topic declaration on the app (import order matters: app first).
import agents  # noqa: E402,F401
import streams_web  # noqa: E402,F401
from app import topics  # noqa: E402


@app.task
async def _declare_topics() -> None:
    await topics.declare_all()


__all__ = ["app"]
