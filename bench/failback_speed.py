#!/usr/bin/env python3
"""The benchmark of pilotlight's own time (bench/README.md).

Every variant fails back the same sandbox world (2 instances with 2 and 3 volumes, an RDS
instance, a 2-member Aurora cluster and a DynamoDB table), each on a world seeded afresh, at the
`instant` pace (AWS's own operation times are not modelled: what is measured is the caller's
time) with a fixed latency added to every AWS call by the realism proxy (`sandbox up
--latency-ms`). The variants run interleaved, round after round, so a noisy machine slows them
alike; the ratios come from the medians of one invocation, side by side.

- script:     bench/baseline_failback.py, a careful responder's sequential boto3 script
- sequential: `pilotlight run bench/sequential.yaml` (one resource per step)
- parallel:   `pilotlight run bench/parallel.yaml` (every resource in one group)
- sequential-before, parallel-before: the same with another binary (`--before PATH`, e.g. a
  build of an earlier commit), for before/after figures from one invocation

Standard library only. Usage:
    python3 bench/failback_speed.py [--latency-ms 100] [--rounds 3] [--pilotlight PATH]
                                    [--before PATH] [--only script,sequential,parallel] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ["script", "sequential", "parallel", "sequential-before", "parallel-before"]
RESOURCES = 5  # app-server, worker, orders-db, inventory, sessions


def default_binary() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return Path(target) / "debug" / "pilotlight"


class Sandbox:
    """The tool's own sandbox in a private state directory, driven through its command line."""

    def __init__(self, binary: Path, state: Path, latency_ms: int, before: Path | None):
        self.binary, self.state, self.latency_ms, self.before = binary, state, latency_ms, before

    def cli(self, *args: str, quiet: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([str(self.binary), "--state-dir", str(self.state), *args], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bench: pilotlight {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        return out

    def fresh(self) -> None:
        """Moto and its proxy started afresh, and the demo world seeded."""
        self.cli("sandbox", "down")
        self.cli("sandbox", "up", "--pace", "instant", "--latency-ms", str(self.latency_ms))
        self.cli("sandbox", "seed")
        self.calls("DELETE")

    def info(self) -> dict:
        return json.loads((self.state / "sandbox" / "sandbox.json").read_text())

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.info()['realism']['port']}"

    def calls(self, method: str = "GET", path: str = "") -> dict | list:
        request = urllib.request.Request(self.endpoint() + "/_pilotlight/calls" + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"{}")

    def python(self) -> Path:
        venv = os.environ.get("PILOTLIGHT_MOTO_VENV") or str(self.state / "sandbox" / "venv")
        return Path(venv) / "bin" / "python"


def run_variant(sandbox: Sandbox, variant: str) -> dict:
    """One variant on a fresh world: its wall time and the AWS calls the proxy saw."""
    sandbox.fresh()
    if variant == "script":
        cmd = [str(sandbox.python()), str(REPO / "bench" / "baseline_failback.py"), "--endpoint", sandbox.endpoint()]
    else:
        runbook = REPO / "bench" / f"{variant.removesuffix('-before')}.yaml"
        binary = sandbox.before if variant.endswith("-before") else sandbox.binary
        cmd = [str(binary), "--state-dir", str(sandbox.state), "run", str(runbook)]
        cmd += ["--sandbox", "--headless", "--auto-approve"]
    began = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - began
    if out.returncode != 0:
        sys.exit(f"bench: {variant} failed ({out.returncode}):\n{out.stdout[-4000:]}{out.stderr[-4000:]}")
    calls = sandbox.calls()
    # Every call in order (milliseconds, operation, region, resource): where the time went.
    log = sandbox.calls(path="/log")
    measured = {"wall_s": wall, "calls": sum(calls.values()), "by_operation": calls, "log": log}
    if variant == "script":
        measured["resources"] = per_resource(out.stdout)
    return measured


def per_resource(stdout: str) -> dict:
    """The script's own line per resource (`worker        6.73 s  (in waits 3.60 s)`): its seconds."""
    seconds = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 3 and words[2] == "s" and words[0] != "total":
            seconds[words[0]] = float(words[1])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=100, help="added to every AWS call [100]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant; medians are reported [3]")
    parser.add_argument("--pilotlight", type=Path, default=default_binary(), help="the binary [target/debug]")
    parser.add_argument("--before", type=Path, help="another binary, run as the -before variants")
    parser.add_argument("--only", help="variants to run, comma-separated [all that can run]")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()
    default = [v for v in VARIANTS if args.before or not v.endswith("-before")]
    variants = [v for v in args.only.split(",") if v] if args.only else default
    if any(v.endswith("-before") for v in variants) and not args.before:
        sys.exit("bench: the -before variants need --before PATH")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"bench: unknown variants {unknown}; known: {VARIANTS}")
    if not args.pilotlight.exists():
        sys.exit(f"bench: no pilotlight binary at {args.pilotlight}: run `cargo build` first, or pass --pilotlight")

    state = Path(tempfile.mkdtemp(prefix="pilotlight-bench-"))
    # A private copy: a build meanwhile does not change the binary under the benchmark.
    binary = state / "pilotlight"
    shutil.copy2(args.pilotlight, binary)
    before = None
    if args.before:
        before = state / "pilotlight-before"
        shutil.copy2(args.before, before)
    sandbox = Sandbox(binary, state, args.latency_ms, before)
    results = {v: [] for v in variants}
    try:
        for round_ in range(1, args.rounds + 1):
            for variant in variants:
                measured = run_variant(sandbox, variant)
                results[variant].append(measured)
                print(f"round {round_} {variant:10s} {measured['wall_s']:7.2f} s {measured['calls']:4d} calls", flush=True)
    finally:
        subprocess.run([str(binary), "--state-dir", str(state), "sandbox", "down"], capture_output=True)
    report(results, args.latency_ms)
    if args.json:
        args.json.write_text(json.dumps({"latency_ms": args.latency_ms, "results": results}, indent=2))
    shutil.rmtree(state, ignore_errors=True)


def report(results: dict, latency_ms: int) -> None:
    """The medians, and the issue's three ratios where their variants ran."""
    median = {v: statistics.median(r["wall_s"] for r in rs) for v, rs in results.items()}
    calls = {v: statistics.median(r["calls"] for r in rs) for v, rs in results.items()}
    print(f"\n{latency_ms} ms added to every AWS call; medians of {len(next(iter(results.values())))} round(s)\n")
    print("| variant | wall time | AWS calls | calls per resource |")
    print("|---|---:|---:|---:|")
    for v in results:
        print(f"| {v} | {median[v]:.1f} s | {calls[v]:.0f} | {calls[v] / RESOURCES:.1f} |")
    if "script" not in median:
        return
    for suffix in ["-before", ""]:
        seq, par = f"sequential{suffix}", f"parallel{suffix}"
        if seq not in median and par not in median:
            continue
        print(f"\n{'before' if suffix else 'now'}:")
        if seq in median:
            print(f"  sequential runbook / script: {median[seq] / median['script']:.2f}x the time (goal <= 1.2)")
            print(f"  calls, sequential runbook / script: {calls[seq] / calls['script']:.2f}x (goal <= 1.2)")
        if par in median:
            print(f"  script / parallel runbook: {median['script'] / median[par]:.2f}x faster (goal >= 4.5)")
    # A parallel run is at least its longest resource: run side by side as the script runs each
    # one, with nothing of its own (no process start, no preflight, no journal), it would reach
    # script / longest. Beyond that only by doing a resource faster than the script does it alone.
    longest = {}
    for r in results["script"]:
        for name, secs in r.get("resources", {}).items():
            longest.setdefault(name, []).append(secs)
    if longest:
        name, secs = max(((n, statistics.median(s)) for n, s in longest.items()), key=lambda x: x[1])
        print(f"\nthe script's longest resource: {name}, {secs:.1f} s; script / that: {median['script'] / secs:.2f}x")
        print("  (what running the script's own procedure for each resource side by side, with no overhead, reaches)")


if __name__ == "__main__":
    main()
