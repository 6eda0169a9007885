"""Forgetting lawfully: retention rules and verifiable purge, legal holds, erasure and subject access.

One module per concept: :mod:`.rules` (which events a policy's retention rules let go, and when),
:mod:`.purge` (emptying their leaves while the tree keeps verifying), :mod:`.holds` (legal holds that
block purge and erasure), :mod:`.subjects` (finding a person's records), :mod:`.erasure` (GDPR Art. 17),
:mod:`.access` (who may do each of these) and :mod:`.export` (GDPR Art. 15 / AI Act Art. 86).
"""
