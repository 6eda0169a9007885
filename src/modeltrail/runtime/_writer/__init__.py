"""Private: the ledger writer in a child process, behind ``DecisionLogger(writer="process")``."""
