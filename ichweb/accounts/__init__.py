"""Roles (Django groups), login, and the one per-object access check of each kind."""
