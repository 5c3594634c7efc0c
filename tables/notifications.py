"""Per-interview notifications: what the recruiter was asked or told, readable over HTTP."""

from __future__ import annotations

from pydantic import Field

from models.base import WireModel
from models.payloads import DataQuality, MissingField

NOTIFICATIONS_KEPT = 100


class Notification(WireModel):
    notification_id: str  # the eventId of the info_needed / info_completed event it came from
    event: str  # the webhook event name, e.g. interview.info_needed
    missing_fields: list[MissingField] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    provided_fields: list[str] = Field(default_factory=list)
    data_quality: DataQuality | None = None
    delivery_id: str | None = None  # the webhook that carried it, when a URL was configured
    at: str


class NotificationLog(WireModel):
    notifications: list[Notification] = Field(default_factory=list)

    def knows(self, notification_id: str) -> bool:
        return any(n.notification_id == notification_id for n in self.notifications)

    def add(self, notification: Notification) -> None:
        self.notifications.append(notification)
        del self.notifications[:-NOTIFICATIONS_KEPT]
