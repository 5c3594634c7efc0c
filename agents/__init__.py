"""Faust agents, one module per stream step. Importing this package registers them on the app."""

from agents import assessor, entities, intake, notifications, planner, webhooks, workflow

__all__ = ["assessor", "entities", "intake", "notifications", "planner", "webhooks", "workflow"]
