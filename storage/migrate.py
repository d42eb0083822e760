"""Run Alembic migrations from code, so `mediawatch` upgrades its own database on start."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationRefused(RuntimeError):
    """A migration found data it will not guess about; the message says what to fix."""


def alembic_config() -> Config:
    """Alembic's configuration, pointing at our migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
