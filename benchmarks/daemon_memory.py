"""The daemon at size: resident memory and job punctuality with many outlets on short intervals.

Run by hand: python -m benchmarks.daemon_memory [--outlets 300] [--minutes 30] [--interval 60s].
Serves OUTLETS fixture outlets on 127.0.0.1 (each an RSS feed of three articles, one more
published every few minutes), runs `mediawatch run` as a real process with every outlet on
INTERVAL, samples its VmRSS (the daemon and its extraction workers) every 10 seconds, and
stops it with SIGTERM after MINUTES. Prints the memory growth after the first 5 minutes (the
target: under 10 %) and how late the latest job started after its due time (the daemon logs
each start later than 1 s; the target: none).
"""

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.demo.command import to_toml
from crawler.demo.site import DemoArticle, FixtureSite

WARMUP = timedelta(minutes=5)
TEXT = (
    "The provincial assembly debated the budget for a third day as members argued over "
    "development spending, the share of districts in new revenue and the pace of reform. "
)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the extraction workers), in MB."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            continue
    return total


def publish(site: FixtureSite, outlet: int, count: int, now: datetime) -> None:
    """Outlet `outlet`'s feed with its `count` newest articles (three at most in the feed)."""
    items = [
        DemoArticle(
            path=f"/o{outlet}/news/{k}/piece",
            title=f"Outlet {outlet} piece {k}: budget debate",
            author="Staff",
            published=now - timedelta(minutes=count - k),
            paragraphs=[f"{TEXT} Piece {k} of outlet {outlet}. " * 6] * 4,
        )
        for k in range(max(count - 3, 0), count)
    ]
    for a in items:
        if a.path not in site.routes:
            site.add_article(a, f"Outlet {outlet}")
    site.add_rss(f"/o{outlet}/feed.xml", f"Outlet {outlet}", items[::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", default="60s")
    args = parser.parse_args()
    site = FixtureSite().start()
    now = datetime.now(UTC)
    published = dict.fromkeys(range(args.outlets), 3)
    for i in range(args.outlets):
        publish(site, i, 3, now)
    outlets = [
        {
            "id": f"o{i}",
            "name": f"Outlet {i}",
            "country": "PK",
            "feeds": [site.url(f"/o{i}/feed.xml")],
            "interval": args.interval,
        }
        for i in range(args.outlets)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mediawatch.toml"
        config.write_text(
            to_toml(
                {
                    "database": {"url": f"sqlite:///{tmp}/mw.db"},
                    "crawl": {"download_delay": 0, "retries": 0},
                    "email": {"outbox_dir": f"{tmp}/outbox"},
                    "catalogue": {"include": []},
                    "outlets": outlets,
                }
            )
        )
        log_path = Path(tmp, "daemon.log")
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "run"], stderr=log
        )
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        next_article = started + 60
        try:
            while time.monotonic() < end:
                if proc.poll() is not None:
                    sys.exit(f"daemon exited: {log_path.read_text()[-2000:]}")
                elapsed = time.monotonic() - started
                samples.append((elapsed, rss_mb(proc.pid)))
                if len(samples) % 30 == 0:
                    print(f"{elapsed / 60:5.1f} min: {samples[-1][1]:.1f} MB", file=sys.stderr)
                if time.monotonic() > next_article:  # news keeps coming: one outlet a minute
                    outlet = int(elapsed) % args.outlets
                    published[outlet] += 1
                    publish(site, outlet, published[outlet], datetime.now(UTC))
                    next_article += 60
                time.sleep(10)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(120)
            log.close()
            site.stop()
        text = log_path.read_text(errors="replace")
    late = [float(x) for x in re.findall(r"started ([0-9.]+)s after its due time", text)]
    summary = re.search(r"scheduler: (\d+) jobs started, the latest ([0-9.]+)s", text)
    crawls = len(re.findall(r": \d+ pages, \d+ new articles", text))
    after_warmup = [mb for t, mb in samples if t >= WARMUP.total_seconds()] or [samples[-1][1]]
    growth = (after_warmup[-1] - after_warmup[0]) / after_warmup[0] * 100
    print(f"exit status {code}; {crawls} crawls in {args.minutes:g} min")
    print(
        f"daemon_memory: outlets={args.outlets} minutes={args.minutes:g} "
        f"interval={args.interval} start_mb={samples[0][1]:.1f} "
        f"at5min_mb={after_warmup[0]:.1f} end_mb={after_warmup[-1]:.1f} "
        f"peak_mb={max(mb for _, mb in samples):.1f} growth_after_5min_pct={growth:.1f} "
        f"jobs={summary.group(1) if summary else '?'} "
        f"latest_start_s={summary.group(2) if summary else '?'} late_starts={len(late)}"
    )


if __name__ == "__main__":
    main()
