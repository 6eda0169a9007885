"""Audit functions: reconstructing decisions and their evidence from the ledger."""
