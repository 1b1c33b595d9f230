"""Which readers open each Parquet file of bench/parquet-writers.ts, with which Arrow types and
how many row groups; and pyarrow's own writer on the same batches as a reference size.
Reads a JSON job on stdin, prints a JSON report on stdout. A reader that is not installed is
reported as missing, not as a failure."""
import json
import sys
import time


def canon(t):
    import pyarrow as pa
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{canon(t.value_type)}>"
    if pa.types.is_fixed_size_list(t):
        return f"fsl{t.list_size}<{canon(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{canon(f.type)}" for f in t) + ">"
    return {"halffloat": "float16", "float": "float32", "double": "float64"}.get(str(t), str(t))


def check(path, expected):
    out = {}
    try:
        import pyarrow.parquet as pq
        f = pq.ParquetFile(path)
        table = f.read()
        types = {name: canon(table.schema.field(name).type) for name in table.schema.names}
        out["pyarrow"] = {"ok": True, "rowGroups": f.metadata.num_row_groups, "typesMatch": types == expected, "types": types}
    except Exception as e:  # noqa: BLE001 - the report says what failed
        out["pyarrow"] = {"ok": False, "error": str(e)[:200]}
    try:
        import polars as pl
        df = pl.read_parquet(path)
        out["polars"] = {"ok": True, "rows": df.height}
    except ImportError:
        out["polars"] = {"ok": None, "error": "polars not installed"}
    except Exception as e:  # noqa: BLE001
        out["polars"] = {"ok": False, "error": str(e)[:200]}
    try:
        import duckdb
        rows = duckdb.sql(f"select count(*), sum(len(topk_ids)) from read_parquet('{path}')").fetchone()
        out["duckdb"] = {"ok": True, "rows": rows[0]}
    except ImportError:
        out["duckdb"] = {"ok": None, "error": "duckdb not installed"}
    except Exception as e:  # noqa: BLE001
        out["duckdb"] = {"ok": False, "error": str(e)[:200]}
    return out


def reference(job):
    """pyarrow.parquet.write_table on the same batches (its defaults: dictionaries on, v1 pages)."""
    import os
    import pyarrow as pa
    import pyarrow.parquet as pq
    with pa.ipc.open_file(job["arrowFile"]) as r:
        table = r.read_all()
    out = []
    for codec in job["codecs"]:
        path = os.path.join(job["outDir"], f"pyarrow-{codec}.parquet")
        best = None
        for _ in range(job["rounds"]):
            t0 = time.perf_counter()
            pq.write_table(table, path, row_group_size=job["batchSize"],
                           compression={"zstd": "zstd", "lz4": "lz4", "none": "none"}[codec],
                           compression_level=job["zstdLevel"] if codec == "zstd" else None)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        out.append({"codec": codec, "path": path, "bytes": os.path.getsize(path), "seconds": best})
    return out


def main():
    job = json.load(sys.stdin)
    ref = reference(job["reference"])
    files = job["files"] + [r["path"] for r in ref]
    print(json.dumps({"files": {p: check(p, job["expected"]) for p in files}, "reference": ref}))


if __name__ == "__main__":
    main()
