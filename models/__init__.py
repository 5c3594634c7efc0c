"""Pydantic models of every message (SPEC section 3); no Faust or Kafka import here."""
