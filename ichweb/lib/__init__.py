"""Small helpers that barely touch Django."""
