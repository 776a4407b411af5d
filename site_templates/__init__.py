"""Jinja2 templates and the static portal app (plain ES modules)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent
