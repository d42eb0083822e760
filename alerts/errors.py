"""Why an email could not be handed over, in the two kinds delivery acts on.

    DeliveryError              an email could not be delivered
     ├── TemporaryDeliveryError   not now: the connection, the server or our settings (refused,
     │                            timeout, 421, any 4xx, a 5xx to HELO, STARTTLS, AUTH or MAIL
     │                            FROM, an outbox folder that cannot be written). Every email
     │                            would meet it, so the round ends and every alert stays queued.
     └── PermanentDeliveryError   this one email, for good: a 5xx to its RCPT TO or its DATA

smtplib's and the file system's errors are translated into these where they enter our code
(the transports in `alerts.delivery`); the CLI turns them into one line and exit status 1.
"""


class DeliveryError(Exception):
    """An email could not be delivered."""

    exit_code = 1


class TemporaryDeliveryError(DeliveryError):
    """Delivery failed for now; the alert stays queued and is retried."""


class PermanentDeliveryError(DeliveryError):
    """This email's recipient was refused for good; only its alert is marked failed."""
