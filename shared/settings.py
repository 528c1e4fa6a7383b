"""One settings object for every process, read from `IGOT_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IGOT_", extra="ignore", frozen=True)

    # Which store and bus the admin commands (`igot user`, `igot migrate`, `igot dlq`) use; the servers
    # pick their own (`igot standalone` / `igot serve`).
    mode: Literal["standalone", "distributed"] = "standalone"

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # How users reach this server (links, `igot push`); unset, it follows `http_host` and `http_port`.
    public_url: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Reverse proxies (an Ingress, the compose proxy) whose X-Forwarded-For names the real client.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    # Slow clients: seconds to send the request line and headers once a request began, and its body.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    # When set, GET /metrics requires `Authorization: Bearer <token>`; empty leaves it open.
    metrics_token: SecretStr = SecretStr("")

    # Standalone store. A relative path is resolved against the iGot checkout when iGot runs from one
    # (so `make run` and an admin command started in another directory share one store), else against
    # the current directory.
    data_dir: Path = Path("./data")

    # Distributed infrastructure
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongo_db: str = "igot"
    bus_exchange: str = "igot"
    bus_prefetch: int = Field(default=64, ge=1, le=10_000)
    # Deliveries in flight per push way and process: they mostly wait on the network (above `bus_prefetch`).
    delivery_prefetch: int = Field(default=256, ge=1, le=10_000)
    # Growing delays (seconds) between tries of a failed bus message; after the last it is parked.
    bus_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    # Outbox relay: how long an accepted message may stay unconfirmed before the relay publishes it.
    outbox_grace_seconds: float = Field(default=2.0, ge=0)
    outbox_interval_seconds: float = Field(default=1.0, gt=0)
    # How long a push's idempotency key stands for its first message; after it, the key is free again.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)

    # Auth
    token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    login_code_ttl_seconds: int = Field(default=300, ge=30)
    # Failed sign-ins allowed per minute: per client address (IPv6 by /64), and from all clients together.
    login_failures_per_client: int = Field(default=10, ge=1)
    login_failures_global: int = Field(default=300, ge=1)
    # Verifications of a push way (bind, send again) per user and way: one per this many seconds, and a
    # daily cap, so that binding cannot be used to flood someone else's inbox or phone.
    verification_interval_seconds: int = Field(default=60, ge=1)
    verifications_per_day: int = Field(default=10, ge=1)

    # Channels (used by later delivery ways; every external endpoint is a setting)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "iGot <push@localhost>"
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    bark_server: str = "https://api.day.app"
    bark_icon: str = ""  # an image URL Bark shows beside each push; empty: the Bark app's own
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_template_id: str = ""
    wechat_token: SecretStr = SecretStr("")
    allow_private_targets: bool = False

    # Account lifecycle: deletion confirmed by a code mailed to the account (valid this long; mailed at
    # most once per interval and `per_day` times a day), then purged in the background: every
    # `purge_interval` seconds, accounts whose deletion is older than `purge_grace` (pushes already in
    # flight settle first) lose all their data.
    account_deletion_code_ttl_seconds: int = Field(default=600, ge=60)
    account_deletion_mail_interval_seconds: int = Field(default=60, ge=0)
    account_deletion_mails_per_day: int = Field(default=10, ge=1)
    account_purge_interval_seconds: float = Field(default=60.0, gt=0)
    account_purge_grace_seconds: float = Field(default=60.0, ge=0)

    # Temporary links: how long a new one works, and how many each user may have that are neither
    # deleted nor expired (paused ones count).
    temporary_link_ttl_days: int = Field(default=90, ge=1, le=3650)
    temporary_links_per_user: int = Field(default=20, ge=1, le=1000)

    # Accounts: e-mail sign-in and the desktop client's account calls. With open registration anyone
    # signs up by e-mail; closed, only addresses `igot user create` made can sign in that way. A mailed
    # code (and its one-click link) works once, for `signin_code_ttl_seconds`, and for at most
    # `signin_code_tries` tries. Sign-in mails: per address one per interval and a cap per hour, per
    # client address a cap per hour (0 turns a cap off).
    open_registration: bool = True
    signin_code_ttl_seconds: int = Field(default=600, ge=60)
    signin_code_tries: int = Field(default=5, ge=1, le=20)
    signin_mail_interval_seconds: int = Field(default=60, ge=0)
    signin_mails_per_address_per_hour: int = Field(default=5, ge=0)
    signin_mails_per_client_per_hour: int = Field(default=30, ge=0)
    # What `GET /client/version/` tells the desktop client (it offers an update when the version differs).
    client_version: str = "1.1.4"
    client_intro: str = ""
    client_url_mac: str = "https://github.com/wahao/Electron-iGot/releases"
    client_url_win: str = "https://github.com/wahao/Electron-iGot/releases"

    # Rate limits on push ingress, shared by every gateway through the store: pushes per minute through
    # one key and from one client address (an IPv6 client by its /64), in bursts of up to the same
    # number; 0 turns a limit off. Clients in `rate_limit_exempt` networks are never limited.
    push_rate_per_key: int = Field(default=120, ge=0, le=1_000_000)
    push_rate_per_ip: int = Field(default=600, ge=0, le=1_000_000)
    rate_limit_exempt: tuple[IPvAnyNetwork, ...] = ()
    # How long a gateway trusts a push key it read; announced changes (pause, account disabled) drop it
    # at once, this bounds how late an unannounced one is seen.
    key_cache_ttl_seconds: float = Field(default=5.0, gt=0, le=3600)

    # Drop-in ingress (ServerChan, PushDeer, Bark): how many push keys one request may name (PushDeer's
    # comma-separated `pushkey`, Bark's `device_keys`); each key gets its own message.
    dropin_max_keys: int = Field(default=10, ge=1, le=100)

    # WeChat official account (with the `wechat_*` settings under Channels): where the QR codes users scan
    # to bind WeChat are shown, by ticket (`?ticket=` is appended).
    wechat_qrcode_url: str = "https://mp.weixin.qq.com/cgi-bin/showqrcode"

    # Quiet hours and read escalation. `clock_offset_seconds` moves the dispatcher's clock (which quiet
    # hours it sees) and `escalation_minute_seconds` is how long one minute of a user's escalation delay
    # lasts: both only for tests, which cannot wait for hours; leave them at 0 and 60.
    clock_offset_seconds: float = Field(default=0.0, ge=-7 * 86400, le=7 * 86400)
    escalation_minute_seconds: float = Field(default=60.0, gt=0, le=60)

    # Group links (subscription links): how many links that are not deleted one user may have.
    group_links_per_user: int = Field(default=20, ge=1, le=1000)

    # Moderation of third-party pushes (group links): the lexicon file (one `word<TAB>category` a line;
    # empty: the shipped list), read again when its modification time or size changes, looked at every
    # `moderation_lexicon_poll_seconds` (and at once on `igot moderation reload`).
    moderation_lexicon: str = ""
    moderation_lexicon_poll_seconds: float = Field(default=5.0, gt=0, le=3600)

    # The optional remote check after the lexicon: "" (none) or "wechat" (WeChat's msgSecCheck v2, a
    # mini-program API). One request to the provider, obtaining its access token included, gets at most
    # `moderation_remote_timeout_seconds`. When the provider cannot answer, `moderation_remote_down_policy`
    # decides: "hold" keeps the message queued and checks it again later, "pass" delivers on the lexicon's
    # verdict alone, "reject" rejects it as unchecked.
    moderation_remote: Literal["", "wechat"] = ""
    moderation_remote_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    moderation_remote_down_policy: Literal["hold", "pass", "reject"] = "hold"
    # The mini program whose msgSecCheck is called: its API (empty: `wechat_api_base`), its appid and
    # secret (both empty: the official account's `wechat_appid` and `wechat_secret`), and the openid every
    # check is made for. msgSecCheck v2 wants one of the mini program's users who opened it recently;
    # pushes come from no such user, so one is configured (the operator's own, say).
    moderation_wechat_api_base: str = ""
    moderation_wechat_appid: str = ""
    moderation_wechat_secret: SecretStr = SecretStr("")
    moderation_wechat_openid: str = ""

    # Receivers' complaints: when this many different receivers complained about messages from one
    # group link within the window, the link is closed (0: never closed by complaints).
    moderation_complaints_to_pause: int = Field(default=5, ge=0, le=1_000_000)
    moderation_complaint_window_hours: int = Field(default=24, ge=1, le=24 * 365)

    # Logging
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("data_dir")
    @classmethod
    def _resolve_data_dir(cls, value: Path) -> Path:
        return resolve_data_dir(value)

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.http_host in ("", "0.0.0.0", "::") else self.http_host
            host = f"[{host}]" if ":" in host else host
            object.__setattr__(self, "public_url", f"http://{host}:{self.http_port}")
        return self


# The directory holding `shared/`, `igot/` and `pyproject.toml` when iGot runs from its source checkout.
_CHECKOUT = Path(__file__).resolve().parents[1]


def resolve_data_dir(value: Path, *, checkout: Path = _CHECKOUT, cwd: Path | None = None) -> Path:
    """An absolute data directory: relative paths count from the checkout, or else the current directory."""
    value = value.expanduser()
    if value.is_absolute():
        return value
    base = checkout if (checkout / "pyproject.toml").is_file() and (checkout / "igot").is_dir() else None
    return ((base or cwd or Path.cwd()) / value).resolve()
