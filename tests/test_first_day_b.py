"""A new user's first day (issue 14, points 5 and 6): the README's example configuration works
as written, and `rules explain` prints the formula it computes."""

import re
import tomllib
from pathlib import Path

from crawler.config import DEFAULT_TOPICS
from crawler.config.model import config_from_dict
from tests.conftest import REPO, run_cli

TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_toml() -> str:
    blocks = TOML_BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 1, "the README has one example configuration"
    return str(blocks[0])


def test_the_readme_example_configuration_is_valid() -> None:
    """A user who copies the README's example gets a working configuration, not exit 2."""
    config = config_from_dict(tomllib.loads(readme_toml()), "README.md")
    ids = {t.id for t in config.topics}
    # Its [[topics]] replace the defaults, so it writes them out: the same three, unchanged.
    for default in DEFAULT_TOPICS:
        assert default.id in ids
        written = next(t for t in config.topics if t.id == default.id)
        assert written.terms == default.terms and written.context == default.context
        assert written.exclude == default.exclude
    for sub in config.subscriptions:
        assert set(sub.topics or []) <= ids


def test_the_readme_example_runs_a_command(tmp_path: Path) -> None:
    """The same file given to the CLI, as a user would after pasting it."""
    example = tmp_path / "mediawatch.toml"
    example.write_text(readme_toml(), encoding="utf-8")
    listed = run_cli("--config", str(example), "outlets", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "daily-chronicle" in listed.stdout


def score_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("score = "))


def test_rules_explain_brackets_the_sum_it_multiplies(tmp_path: Path) -> None:
    """`score = (a + b + c) × (1 + 0.25 × (3 - 1))`: unbracketed it reads as a + b + 1.5c."""
    oped = REPO / "crawler" / "demo" / "content" / "cismoa-oped.txt"
    three = run_cli("rules", "explain", str(oped), cwd=tmp_path)
    assert three.returncode == 0, three.stderr
    line = score_line(three.stdout)
    shown = re.fullmatch(
        r"score = \(([\d.]+) \+ ([\d.]+) \+ ([\d.]+)\) × \(1 \+ 0\.25 × \(3 - 1\)\) = ([\d.]+)",
        line,
    )
    assert shown, line
    *parts, total = (float(x) for x in shown.groups())
    # The printed formula, evaluated as written, gives the printed total (3-decimal rounding).
    assert abs(sum(parts) * 1.5 - total) < 0.01

    one = run_cli(
        "rules",
        "explain",
        "-",
        cwd=tmp_path,
        input="Pakistan and the FATF grey list review was discussed again this week by officials.",
    )
    assert one.returncode == 0, one.stderr
    assert re.fullmatch(
        r"score = [\d.]+ × \(1 \+ 0\.25 × \(1 - 1\)\) = [\d.]+", score_line(one.stdout)
    )
