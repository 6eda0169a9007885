"""Standard exports of what the ledger records: CycloneDX ML-BOM, in-toto/SLSA provenance, OpenLineage."""
