"""Run every tests/bench/bench_*.py module's main() in turn (or only those named on the command
line), then print the one table of figures they recorded (also written to var/bench.md)."""
import importlib
import pkgutil
import sys
import traceback

import tests.bench as bench
from tests.bench.table import print_table, record

names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                               if m.name.startswith("bench_"))
failed = []
for name in names:
    print(f"== {name}", flush=True)
    try:
        importlib.import_module(f"tests.bench.{name}").main()
    except Exception:  # one broken bench must not hide the others' figures
        traceback.print_exc()
        failed.append(name)
        record(f"{name} (failed, see above)", "", "", None, "runs", False)
print("\n== summary", flush=True)
print_table()
sys.exit(1 if failed else 0)
