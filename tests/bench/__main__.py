"""Run every tests/bench/bench_*.py module's main() in turn (or only those named on the command line)."""
import importlib
import pkgutil
import sys

import tests.bench as bench

names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                               if m.name.startswith("bench_"))
for name in names:
    print(f"== {name}", flush=True)
    importlib.import_module(f"tests.bench.{name}").main()

from tests.bench.table import print_table  # noqa: E402

print_table()
