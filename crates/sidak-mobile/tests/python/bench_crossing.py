"""The Python half of `cargo bench -p sidak-mobile --bench crossing`: the same list page of
50 workers and the same single edit, through the generated bindings (ctypes over the cdylib).

Usage: bench_crossing.py STORE RECORD_ID RUNS (SIDAK_MOBILE_BINDINGS: the generated bindings)."""

import os
import sys
import time

sys.path.insert(0, os.environ["SIDAK_MOBILE_BINDINGS"])
import sidak_mobile as sdk  # noqa: E402


def median_us(f, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return times[len(times) // 2]


def main():
    path, record_id, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = sdk.FieldDevice.open(path, None)
    page = sdk.ListFilter(kind=sdk.RecordKind.WORKER, status=None, region_prefix=None,
                          company_id=None, visit_id=None, unsynced_only=False,
                          conflicts_only=False, after=None, limit=50)
    assert len(device.list(page).items) == 50
    listed = median_us(lambda: device.list(page), runs)
    n = [0]

    def edit():
        n[0] += 1
        value = sdk.FieldValue.INT(value=3_000_000 + n[0])
        device.edit(sdk.RecordKind.WORKER, record_id, [sdk.FieldEdit.SET(field="monthly_income", value=value)])

    edited = median_us(edit, runs)
    print(f"  list page of 50   Python via the bindings {listed:8.1f} µs")
    print(f"  one edit          Python via the bindings {edited:8.1f} µs")


if __name__ == "__main__":
    main()
