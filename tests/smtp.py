"""A real SMTP server in the test process (aiosmtpd on 127.0.0.1) that can be told to fail."""

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where a connection is refused for as long as the block runs: bound
    and not listening, so no other test process's server can take it meanwhile (a port found
    free and let go could be)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


class Recorder:
    """Accepts mail, or answers as told.

        mode "temp" answers 451 and mode "perm" 550 to every recipient; `replies` maps a command
        ("EHLO", "HELO", "MAIL", "RCPT", "DATA") to the answer it gets instead of the usual one;
        `refuse` maps a recipient address to its own answer to RCPT TO, `refuse_data` to its
    own answer after DATA; `delay` holds MAIL FROM's answer back
        that many seconds (a slow server); `hold`, while set and not yet released (or 60 s),
        holds it back too, for as long as a test needs a sender in the middle of sending;
        `gate` holds every DATA answer until that many
        connections have said EHLO (or 20 s passed), so two senders are surely at it at once.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each accepted message as it arrived, CRLF line ends
        self.recipients: list[list[str]] = []  # each accepted message's RCPT TO addresses
        self.mode = "ok"
        self.replies: dict[str, str] = {}
        self.refuse: dict[str, str] = {}
        self.refuse_data: dict[str, str] = {}
        self.delay = 0.0
        self.hold: threading.Event | None = None
        self.gate = 0
        self.sessions: set[int] = set()

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions.add(id(session))
        if "EHLO" in self.replies:
            return [self.replies["EHLO"]]
        session.host_name = hostname
        return responses

    async def handle_HELO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str
    ) -> str:
        if "HELO" in self.replies:
            return self.replies["HELO"]
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        deadline = time.monotonic() + 60
        while self.hold is not None and not self.hold.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if "MAIL" in self.replies:
            return self.replies["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        if self.mode == "temp":
            return "451 4.3.0 Try again later"
        if self.mode == "perm":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        deadline = time.monotonic() + 20
        while len(self.sessions) < self.gate and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if "DATA" in self.replies:
            return self.replies["DATA"]
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.raw.append(envelope.original_content)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


class Greeter:
    """A bare TCP server on 127.0.0.1 that greets every connection with `line` and hangs up
    (for example "421 4.3.2 Too busy"), or, with `line` None, accepts and says nothing."""

    def __init__(self, line: str | None) -> None:
        self.line = line
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.line is None:
                self.held.append(conn)
                continue
            with conn:
                conn.sendall(self.line.encode() + b"\r\n")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone would not
        self.sock.close()
        self.thread.join(5)
        for conn in self.held:
            conn.close()


class SmtpServer:
    def __init__(
        self,
        port: int | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tls = tls
        self.port = port or free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None
        self.password = password
        self.logins: list[str] = []

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = auth_data.password.decode() == self.password
        if ok:
            self.logins.append(auth_data.login.decode())
        # handled=False: aiosmtpd answers 535 itself (handled=True would leave the client hanging)
        return AuthResult(success=ok, handled=False)

    def start(self) -> "SmtpServer":
        auth: dict[str, Any] = {}
        if self.password is not None:
            # plain-text AUTH is fine on loopback in a test; real servers need STARTTLS
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.tls is not None,
            }
        if self.tls is not None:
            auth |= {"tls_context": self.tls, "require_starttls": True}
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **auth)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the certificate file a client can trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
