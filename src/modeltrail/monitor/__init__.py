"""Post-market monitoring (Art. 72) and serious incidents (Art. 73).

One module per concept: :mod:`.profile` (reference profiles), :mod:`.windows` (production windows),
:mod:`.drift` (drift statistics), :mod:`.performance` (performance decay and CBPE), :mod:`.fairness`
(fairness drift), :mod:`.projection` (the incremental monitoring projection), :mod:`.alerts` (alert
levels and the actions they take), :mod:`.incidents` (serious incidents and their legal clocks),
:mod:`.report` (the HTML report), :mod:`.run` (one monitoring pass over the ledger) and :mod:`.demo`.
"""
