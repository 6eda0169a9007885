"""Runs Evidently's DataDriftPreset in its own environment (see make_evidently_venv.sh) and prints JSON.

    /tmp/evidently-venv/bin/python bench/_evidently_baseline.py REF.parquet CUR.parquet NUM_COLS CAT_COLS

Prints {"seconds": ..., "cpu_seconds": ..., "columns": {name: {"method": ..., "value": ..., "drifted": ...}}, "share": ...}.
Only Evidently's own API is used; the timing covers the report run and reading its values.
"""

import json
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main() -> None:
    ref_path, cur_path, num, cat = sys.argv[1:5]
    num_cols = [c for c in num.split(",") if c]
    cat_cols = [c for c in cat.split(",") if c]
    ref = pd.read_parquet(ref_path)
    cur = pd.read_parquet(cur_path)
    definition = DataDefinition(numerical_columns=num_cols, categorical_columns=cat_cols)
    t0 = time.perf_counter()
    c0 = time.process_time()
    r = Dataset.from_pandas(ref, data_definition=definition)
    c = Dataset.from_pandas(cur, data_definition=definition)
    snap = Report([DataDriftPreset()]).run(current_data=c, reference_data=r)
    out = snap.dict()
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    columns = {}
    share = None
    for m in out["metrics"]:
        cfg = m.get("config", {})
        typ = str(cfg.get("type", ""))
        if "ValueDrift" in typ:
            columns[cfg["column"]] = {
                "method": cfg.get("method"),
                "value": m["value"],
                "threshold": cfg.get("threshold"),
            }
        elif "DriftedColumnsCount" in typ:
            share = m["value"]
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "columns": columns, "share": share}, default=str))


if __name__ == "__main__":
    main()
