"""Tenants: API keys, webhook secrets and per-tenant workflow settings (TENANTS_FILE)."""

from __future__ import annotations

import hmac
from pathlib import Path

from pydantic import Field, TypeAdapter

from models.base import WireModel


class TenantSettings(WireModel):
    api_key: str = Field(min_length=8)
    webhook_secret: str = Field(min_length=8)
    webhook_url: str | None = None
    auto_approve_plans: bool = False
    access_link_ttl_days: int = Field(default=7, gt=0, le=365)

    def __repr__(self) -> str:  # keys and secrets never reach a log line
        return f"TenantSettings(webhook_url={self.webhook_url!r}, auto_approve_plans={self.auto_approve_plans})"

    __str__ = __repr__


_TENANTS = TypeAdapter(dict[str, TenantSettings])

DEV_TENANT_ID = "dev-tenant"
DEV_TENANTS: dict[str, TenantSettings] = {
    DEV_TENANT_ID: TenantSettings(api_key="dev-api-key-change-me", webhook_secret="dev-webhook-secret"),
}


class Tenants:
    def __init__(self, tenants: dict[str, TenantSettings]):
        self._tenants = tenants

    @classmethod
    def from_file(cls, path: str | Path) -> Tenants:
        return cls(_TENANTS.validate_json(Path(path).read_bytes()))

    def get(self, tenant_id: str) -> TenantSettings | None:
        return self._tenants.get(tenant_id)

    def authenticate(self, tenant_id: str | None, api_key: str | None) -> TenantSettings | None:
        """The tenant if ``api_key`` is its key (constant-time compare), else None."""
        tenant = self._tenants.get(tenant_id or "")
        if tenant is None or api_key is None:
            return None
        return tenant if hmac.compare_digest(tenant.api_key.encode(), api_key.encode()) else None

    def __contains__(self, tenant_id: object) -> bool:
        return tenant_id in self._tenants

    def ids(self) -> list[str]:
        return sorted(self._tenants)
