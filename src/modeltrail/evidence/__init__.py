"""Evidence reports: data governance (with PII scan), fairness, performance, explainability, robustness."""
