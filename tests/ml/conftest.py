"""Shared fixtures of the ML tests live in tests/conftest.py (one_torch_thread)."""
