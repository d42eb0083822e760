"""Resident memory of `mediawatch run` over many crawl cycles of a fixture site.

Run by hand: python -m benchmarks.daemon_memory [CYCLES]. Starts the test fixture outlets on
127.0.0.1, runs the daemon as a real process with a 1-second interval per outlet, samples
VmRSS from /proc after every cycle of the alpha outlet, and stops it with SIGTERM.
"""

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawler.demo.command import to_toml
from tests.site import build, outlets_config


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    t = build()
    outlets = outlets_config(t)
    for o in outlets:
        o["interval"] = "1s"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mediawatch.toml"
        config.write_text(
            to_toml(
                {
                    "database": {"url": f"sqlite:///{tmp}/mw.db"},
                    "crawl": {"download_delay": 0, "max_page_mb": 2, "retries": 0},
                    "email": {"outbox_dir": f"{tmp}/outbox"},
                    "catalogue": {"include": []},
                    "outlets": outlets,
                }
            )
        )
        log = open(f"{tmp}/daemon.log", "wb")  # noqa: SIM115 - the daemon writes it until the end
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "run"], stderr=log
        )
        feed = t.paths["alpha_rss"]
        samples: list[float] = []
        started = time.monotonic()
        seen = 0
        try:
            while len(samples) < cycles:
                if proc.poll() is not None:
                    sys.exit(f"daemon exited: {Path(tmp, 'daemon.log').read_text()[-2000:]}")
                count = t.site.fetch_count(feed)
                if count > seen:
                    seen = count
                    samples.append(rss_mb(proc.pid))
                    if len(samples) % 20 == 0:
                        print(f"cycle {len(samples)}: {samples[-1]:.1f} MB", file=sys.stderr)
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
            t.site.stop()
    # the first cycles load code and fill caches; compare from cycle 10 on
    steady = samples[9:]
    print(f"cycles={len(samples)} in {time.monotonic() - started:.0f}s; exit status {code}")
    print(
        f"daemon_memory: start_mb={samples[0]:.1f} after10_mb={samples[9]:.1f} "
        f"peak_mb={max(samples):.1f} end_mb={samples[-1]:.1f} "
        f"growth_after10_mb={steady[-1] - steady[0]:.1f}"
    )


if __name__ == "__main__":
    main()
