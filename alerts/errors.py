"""Why an email could not be handed over, in the two kinds delivery acts on.

    DeliveryError              an email could not be delivered
     ├── TemporaryDeliveryError   worth retrying later (connection refused, 4xx, timeout)
     └── PermanentDeliveryError   the server said no for good (5xx)

smtplib's and the file system's errors are translated into these where they enter our code
(the transports in `alerts.delivery`); the CLI turns them into one line and exit status 1.
"""


class DeliveryError(Exception):
    """An email could not be delivered."""

    exit_code = 1


class TemporaryDeliveryError(DeliveryError):
    """Delivery failed for now; the alert stays queued and is retried."""


class PermanentDeliveryError(DeliveryError):
    """Delivery was refused for good; the alert is marked failed."""
