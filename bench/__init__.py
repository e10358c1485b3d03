"""The benchmark: `inv deploy-all` against the floor (bench/floor.sh). `bench/run.py` is the command users type;
cli.py reads its options and drives the others: runner.py runs `inv` and the floor and keeps the lab's hosts files,
floor.py writes the floor's plan from dockstack's own builders, measure.py makes the measurements, parse.py reads
the commands' progress lines and traces, report.py writes BENCHMARKS.md, machine.py says what the run ran on;
common.py and results.py hold what they share (paths, the lab, the measured data)."""
