"""Small named values (the daemon's heartbeat), kept in the database."""

from datetime import datetime

from sqlalchemy.orm import Session

from storage.models import StateRow


def get_state(session: Session, key: str) -> str | None:
    """A named value, or None."""
    row = session.get(StateRow, key)
    return row.value if row else None


def set_state(session: Session, key: str, value: str, now: datetime) -> None:
    """Set a named value."""
    row = session.get(StateRow, key)
    if row is None:
        session.add(StateRow(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
