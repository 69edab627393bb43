"""score_arrow beside the CLI, and Spark local[2] beside score_arrow, in one run.

    cargo build --release --bin leadscore --example gen_leads
    python python/bench/bench_arrow.py 1000000            # add --spark for Spark

Generates COUNT leads as JSON Lines (examples/gen_leads, seed 42), reads them into a
pyarrow Table once (not timed), then alternates, best of 3 each: `leadscore score -q`
over the file (the CLI's work includes parsing JSON and writing verdicts), and
`Scorer.score_arrow` over the table (the table is already in memory). Both check their
verdict count. With --spark, also `leadscore.spark.score` on a local[2] session over the
same table (as a DataFrame cached in Spark first), forced with the `noop` sink.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json

import leadscore

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-27"


def best(runs, f):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times), max(times)


def cpu_seconds(f):
    """CPU time (user + system, every thread, child processes too) of one call: less
    disturbed than wall time by other work on a shared machine."""
    import resource

    def now():
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    start = now()
    f()
    return now() - start


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    spark_too = "--spark" in sys.argv
    work = Path("/tmp/leadscore-py-bench")
    work.mkdir(exist_ok=True)
    leads = work / f"leads-{count}.jsonl"
    if not leads.exists():
        with open(leads, "wb") as f:
            subprocess.run(
                [ROOT / "target/release/examples/gen_leads", str(count), "jsonl", "42"],
                stdout=f,
                check=True,
            )
    table = pyarrow.json.read_json(leads)
    assert table.num_rows == count
    scorer = leadscore.Scorer.load(ROOT / "rules")
    cli = [str(ROOT / "target/release/leadscore"), "score", "-q", "--rules",
           str(ROOT / "rules"), "--as-of", AS_OF, str(leads)]

    def run_cli():
        out = subprocess.run(cli, stdout=subprocess.PIPE, check=True)
        assert out.stdout.count(b"\n") == count

    def run_arrow():
        assert scorer.score_arrow(table, as_of=AS_OF).num_rows == count

    results = {"cli": [], "arrow": []}
    cpu = {"cli": [], "arrow": []}
    for _ in range(3):
        results["cli"].append(best(1, run_cli)[0])
        results["arrow"].append(best(1, run_arrow)[0])
        cpu["cli"].append(cpu_seconds(run_cli))
        cpu["arrow"].append(cpu_seconds(run_arrow))
    cli_t = min(results["cli"])
    arrow_t = min(results["arrow"])
    print(f"leads: {count:,}, cores: {os.cpu_count()}")
    print(f"leadscore score (JSON Lines file): {min(results['cli']):.2f}-{max(results['cli']):.2f} s, "
          f"{count / cli_t / 1000:.0f} K leads/s")
    print(f"score_arrow (pyarrow.Table):       {min(results['arrow']):.2f}-{max(results['arrow']):.2f} s, "
          f"{count / arrow_t / 1000:.0f} K leads/s, {cli_t / arrow_t:.2f}x the CLI's leads/s")
    c, a = min(cpu["cli"]), min(cpu["arrow"])
    print(f"CPU time, best of 3: CLI {c:.2f} s, score_arrow {a:.2f} s: "
          f"score_arrow does {c / a:.2f}x the CLI's leads per CPU second")

    if spark_too:
        from pyspark.sql import SparkSession

        from leadscore.spark import score as spark_score

        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        df = spark.createDataFrame(table.to_pandas()).repartition(2).cache()
        assert df.count() == count

        def run_spark():
            spark_score(df, rules=ROOT / "rules", as_of=AS_OF).write.format("noop").mode(
                "overwrite"
            ).save()

        def run_scan():
            df.write.format("noop").mode("overwrite").save()

        spark_times, scan_times, arrow_times = [], [], []
        for _ in range(3):
            scan_times.append(best(1, run_scan)[0])
            spark_times.append(best(1, run_spark)[0])
            arrow_times.append(best(1, run_arrow)[0])
        s, a, c = min(spark_times), min(arrow_times), min(scan_times)
        print(f"spark local[2] scan only (noop):   {c:.2f} s")
        print(f"spark local[2] leadscore.spark:    {min(spark_times):.2f}-{max(spark_times):.2f} s, "
              f"{count / s / 1000:.0f} K leads/s, {s / a:.2f}x score_arrow's time "
              f"(score_arrow {a:.2f} s in the same run)")
        spark.stop()


if __name__ == "__main__":
    main()
