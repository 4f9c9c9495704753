"""Declares a runtime it does not define (see pyproject.toml)."""
