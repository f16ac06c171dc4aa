#!/usr/bin/env python3
"""Benchmark `xnai usage` against `ccusage daily --json` on the same Claude Code tree.

Usage: bench/usage.py [SIZE_MB] [RUNS]       (defaults: 1024 MiB, 5 runs)

- Generates the corpus once with ../shared/bench/gen-claude-logs.py (cached in
  $XNAI_BENCH_DIR, default /tmp/xnai-bench) and keeps the totals the generator printed.
- Builds xnai in release mode.
- Installs ccusage 20.x from npm into $XNAI_BENCH_DIR/ccusage when it is not there (20.0.24:
  the last 20.x whose linux-x64 native binary is published). Without npm it is skipped.
- Warms the page cache, then alternates the tools so both see the same machine: xnai cold
  (empty ledger), xnai re-scan (nothing changed), ccusage. Reports medians, the ratio, peak
  RSS (from wait4), and whether every tool's totals equal the generator's.

Prints a Markdown table for BENCHMARKS.md.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "..", "shared", "bench", "gen-claude-logs.py")
CCUSAGE_VERSION = "20.0.24"


def run(cmd, env=None, capture=True):
    """Runs cmd; returns (seconds, peak RSS in KiB, stdout)."""
    start = time.perf_counter()
    p = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    out = p.stdout.read() if capture else b""
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err.decode(errors='replace')}")
    return secs, usage.ru_maxrss, out


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    work = os.environ.get("XNAI_BENCH_DIR", "/tmp/xnai-bench")
    os.makedirs(work, exist_ok=True)

    home = os.path.join(work, f"claude-{size}")  # a CLAUDE_CONFIG_DIR: projects/ inside
    totals_file = home + ".totals.json"
    if not os.path.exists(totals_file):
        print(f"generating a {size} MiB Claude Code tree in {home} ...", file=sys.stderr)
        shutil.rmtree(home, ignore_errors=True)
        out = subprocess.run(
            [sys.executable, GEN, os.path.join(home, "projects"), str(size)],
            check=True,
            capture_output=True,
        ).stdout
        with open(totals_file, "wb") as f:
            f.write(out)
    expected = json.load(open(totals_file))["totals"]

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    xnai = os.path.join(ROOT, "target", "release", "xnai")

    cfg_dir = os.path.join(work, "config")
    os.makedirs(cfg_dir, exist_ok=True)
    cfg = os.path.join(cfg_dir, "credentials.yaml")
    with open(cfg, "w") as f:
        f.write(
            "credentials:\n  claude:\n    accounts:\n      bench:\n"
            "        oauth_token: sk-ant-oat01-benchmark-account-with-no-real-token-000000000000\n"
            f"        usage_paths: [{json.dumps(home)}]\n"
        )
    os.chmod(cfg, 0o600)
    data = os.path.join(work, "data")

    ccusage = shutil.which("ccusage")
    local = os.path.join(work, "ccusage", "node_modules", ".bin", "ccusage")
    if ccusage is None and not os.path.exists(local) and shutil.which("npm"):
        print(f"installing ccusage@{CCUSAGE_VERSION} ...", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--prefix", os.path.join(work, "ccusage"), "--no-audit",
             "--no-fund", "--loglevel=error", f"ccusage@{CCUSAGE_VERSION}"],
            check=False,
        )
    if ccusage is None and os.path.exists(local):
        ccusage = local
    cc_version = None
    if ccusage:
        cc_version = subprocess.run([ccusage, "--version"], capture_output=True, text=True).stdout.strip()
        cc_version = cc_version.split()[-1] if cc_version else ""
        if not cc_version.startswith("20."):
            print(f"ccusage {cc_version} is not 20.x: skipped", file=sys.stderr)
            ccusage = None

    # Warm the page cache: both tools then read from memory.
    for dirpath, _, files in os.walk(home):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass

    env = dict(os.environ, XDG_DATA_HOME=data, NO_COLOR="1")
    cold, rescan, cc = [], [], []
    xnai_totals = cc_totals = None
    for _ in range(runs):
        shutil.rmtree(data, ignore_errors=True)
        # The previous run's ledger writes are flushed now, not during the next measurement.
        os.sync()
        t, rss, out = run([xnai, "--config", cfg, "usage", "--by", "account", "--json"], env)
        cold.append((t, rss))
        xnai_totals = json.loads(out)["totals"]
        t, rss, _ = run([xnai, "--config", cfg, "usage", "--by", "account", "--json"], env)
        rescan.append((t, rss))
        os.sync()
        if ccusage:
            t, rss, out = run(
                [ccusage, "daily", "--json", "--offline"],
                dict(os.environ, CLAUDE_CONFIG_DIR=home),
            )
            cc.append((t, rss))
            cc_totals = json.loads(out)["totals"]

    def med(xs):
        return statistics.median(x[0] for x in xs)

    def peak(xs):
        return max(x[1] for x in xs) / 1024

    ok_xnai = (
        xnai_totals["input"] == expected["input"]
        and xnai_totals["output"] == expected["output"]
        and xnai_totals["cache_write"] == expected["cache_create"]
        and xnai_totals["cache_read"] == expected["cache_read"]
        and xnai_totals["events"] == expected["messages"]
    )
    ok_cc = cc_totals is not None and (
        cc_totals["inputTokens"] == expected["input"]
        and cc_totals["outputTokens"] == expected["output"]
        and cc_totals["cacheCreationTokens"] == expected["cache_create"]
        and cc_totals["cacheReadTokens"] == expected["cache_read"]
    )
    cpu = os.cpu_count()
    print(f"\n{size} MiB Claude Code tree ({json.load(open(totals_file))['bytes']} bytes), "
          f"{runs} runs, {cpu} CPUs, medians\n")
    print("| measurement | result |")
    print("|---|---|")
    print(f"| xnai cold scan (empty ledger) | {med(cold):.3f} s, peak RSS {peak(cold):.0f} MiB |")
    print(f"| xnai re-scan, nothing changed | {med(rescan) * 1000:.0f} ms, peak RSS {peak(rescan):.0f} MiB |")
    if ccusage:
        print(f"| ccusage {cc_version} `daily --json` | {med(cc):.3f} s, peak RSS {peak(cc):.0f} MiB |")
        print(f"| ratio ccusage / xnai cold | {med(cc) / med(cold):.1f}x |")
        print(f"| ratio ccusage / xnai re-scan | {med(cc) / med(rescan):.0f}x |")
    else:
        print("| ccusage 20.x | not installed (npm unavailable): no ratio |")
    print(f"| xnai totals equal the generator's | {'yes' if ok_xnai else 'NO'} |")
    if ccusage:
        print(f"| ccusage totals equal the generator's | {'yes' if ok_cc else 'NO'} |")
    print("\nraw (s): cold " + " ".join(f"{x[0]:.3f}" for x in cold)
          + " | rescan " + " ".join(f"{x[0]:.3f}" for x in rescan)
          + (" | ccusage " + " ".join(f"{x[0]:.3f}" for x in cc) if cc else ""))
    if not ok_xnai:
        sys.exit("xnai's totals differ from the generator's")


if __name__ == "__main__":
    main()
