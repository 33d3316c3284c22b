"""E-mail through an SMTP server (``smtplib``): STARTTLS when configured, login when a user is
given. A 4xx answer or a lost connection is retried; a 5xx answer (unknown recipient, refused
login) is not."""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, masked


class SmtpMail:
    kind = "email"
    address_limits: tuple[Limit, ...] = ()
    digests = True
    max_bytes = 100_000

    def __init__(self, name: str, *, host: str, port: int, sender: str, starttls: bool = True,
                 username: str | None = None, password: Secret | None = None,
                 timeout_s: float = 10.0, limits: tuple[Limit, ...] = (Limit(60, 60_000),),
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self._host = host
        self._port = port
        self._sender = sender
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._tls = tls_context
        self.limits = limits

    def email(self, message: Message, now_ms: int) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.address
        mail["Subject"] = message.title
        mail["Date"] = format_datetime(datetime.fromtimestamp(now_ms / 1000, UTC))
        mail["Message-ID"] = make_msgid(idstring=message.key.replace(":", "."),
                                        domain="gongzhi.local")
        mail["X-Gongzhi-Delivery"] = message.key
        mail.set_content(message.text)
        return mail

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        password = self._password.reveal() if self._password else ""
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, password)
                smtp.send_message(self.email(message, now_ms))
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome.refused(f"SMTP login refused ({exc.smtp_code})")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            permanent = all(code >= 500 for code in codes)
            detail = f"recipient refused ({', '.join(map(str, codes))})"
            return Outcome.refused(detail) if permanent else Outcome.retry(detail)
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}"
            return Outcome.refused(detail) if exc.smtp_code >= 500 else Outcome.retry(detail)
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome.retry(masked(f"{type(exc).__name__}: {exc}", password))
        return Outcome.sent("250 accepted")
