"""Persistence: the embedded SQLite store and its migrations."""
