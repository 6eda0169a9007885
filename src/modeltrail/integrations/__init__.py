"""Bridges to other ML tools (each behind its optional extra)."""
