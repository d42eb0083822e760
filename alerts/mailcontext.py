"""What every kind of alert email is built from, read once per delivery round.

Its own module so that the renderers of each kind (alerts/render.py, mail_edit.py,
mail_spike.py) and delivery, which calls them, all import it and not one another.
"""

from dataclasses import dataclass
from datetime import datetime

from alerts.rules import RuleSet
from alerts.settings import MailSettings


@dataclass(frozen=True)
class RenderContext:
    """The mail settings, the rules, the outlets' names and the round's time."""

    config: MailSettings
    rules: RuleSet
    outlet_names: dict[str, str]
    now: datetime
