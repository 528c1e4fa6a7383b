"""WeChat's text content check (msgSecCheck, version 2, a mini-program API) as a remote checker.

The call: `POST {api}/wxa/msg_sec_check?access_token=` with the JSON `{"content", "version": 2, "scene",
"openid", "title"?}` written as UTF-8 with non-ASCII characters as they are (WeChat does not read
`\\u` escapes); content is at most 2,500 characters, so longer texts go in pieces. WeChat answers
`{"errcode": 0, "errmsg": "ok", "result": {"suggest", "label"}, "detail": [one per strategy],
"trace_id"}`; `result` is the overall verdict and the only part read.

Errcodes: -1 (busy) and anything unknown make the check unavailable; a refused access token (40001,
42001, 40014) is renewed and the check made once more; 40003 (invalid openid), 43104 (the openid is not
this mini program's), 61010 (the openid's user has not opened the mini program lately), 48001 (this appid
may not call the API), 40129, 44002, 47001, 43302 (the request) mean the settings need fixing, and are
logged as errors; 87014, version 1's "risky content", counts as risky.

Version 2 checks on behalf of one of the mini program's users, who must have opened it lately (two
hours, WeChat says). Pushes come from no such user, so every check is made for one configured openid
(`IGOT_MODERATION_WECHAT_OPENID`); when WeChat stops taking it (61010), checks are unavailable until that
user opens the mini program again.

The access token is the one machinery iGot has for WeChat (`shared.wechat.token`), keyed in the store
by the mini program's appid: every process shares one token per appid, and with no appid of its own the
checker shares the official account's. One request's check, obtaining the token included, gets
`IGOT_MODERATION_REMOTE_TIMEOUT_SECONDS`; a text's pieces are checked a few at a time.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import aiohttp

from services.moderation.remote import (
    SUGGESTS,
    RemoteCheckerConfigError,
    RemoteCheckUnavailable,
    RemoteVerdict,
    Suggest,
    text_pieces,
    utf16_length,
    worst,
)
from shared.failures import PermanentError, TransientError
from shared.logs import get_logger
from shared.settings import Settings
from shared.store import Store, StoreError
from shared.wechat.account import open_api_session
from shared.wechat.api import WeChatApi, errcode_of, errmsg_of
from shared.wechat.token import AccessTokens

log = get_logger("igot.moderation.remote")

NORMAL = 100
OTHER = 21000
CATEGORIES: dict[int, str] = {
    NORMAL: "normal",
    10001: "ads",
    20001: "politics",
    20002: "porn",
    20003: "abuse",
    20006: "illegal",
    20008: "fraud",
    20012: "vulgar",
    20013: "copyright",
    OTHER: "other",
}
RISKY_V1 = 87014
# Answers no retry changes: the operator must fix the settings (or open the mini program, for 61010).
SETTINGS_REFUSED: dict[int, str] = {
    40003: "the openid is not valid",
    43104: "the openid is not one of this mini program's users",
    61010: "the openid's user has not opened the mini program lately",
    48001: "this appid may not call msgSecCheck (is it a mini program's?)",
    40129: "the scene is not valid",
    44002: "the request was empty",
    47001: "the request was malformed",
    43302: "the request used the wrong method",
}
ANSWER_BYTES = 64 * 1024


def category_of(label: int) -> str:
    return CATEGORIES.get(label, "other")


@dataclass(frozen=True)
class Piece:
    content: str
    title: str | None


@dataclass
class Connection:
    session: aiohttp.ClientSession
    tokens: AccessTokens


class WeChatContentCheck:
    name: str = "wechat"
    max_content: ClassVar[int] = 2500
    # Long enough for any phrase worth catching that one piece boundary would cut in two.
    piece_overlap: ClassVar[int] = 50
    # 3 is "forum": posts many people read, the closest of WeChat's four scenes to a broadcast push.
    scene: ClassVar[int] = 3
    # Pieces of one text checked at the same time: a long text is quick, WeChat's rate is spared.
    parallel_pieces: ClassVar[int] = 4

    def __init__(
        self,
        store: Store,
        *,
        api_base: str,
        appid: str,
        secret: str,
        openid: str,
        timeout_seconds: float,
    ) -> None:
        self._store = store
        self._api_base = api_base.rstrip("/")
        self._appid = appid
        self._secret = secret
        self._openid = openid
        self._timeout = timeout_seconds
        self._connection: Connection | None = None

    async def check(self, text: str, *, title: str | None = None) -> RemoteVerdict:
        pieces = self.pieces(text, title)
        if not pieces:  # nothing to read is nothing to object to
            return RemoteVerdict("pass", NORMAL, category_of(NORMAL), self.name)
        loop = asyncio.get_running_loop()
        started = loop.time()
        gate = asyncio.Semaphore(self.parallel_pieces)

        async def check_one(piece: Piece) -> RemoteVerdict:
            async with gate:
                return await self._check_piece(piece)

        outcomes = await asyncio.gather(*(check_one(piece) for piece in pieces), return_exceptions=True)
        latency_ms = round((loop.time() - started) * 1000)
        verdicts = [outcome for outcome in outcomes if isinstance(outcome, RemoteVerdict)]
        failures: list[RemoteCheckUnavailable] = []
        for outcome in outcomes:
            if isinstance(outcome, RemoteCheckUnavailable):
                failures.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome  # a defect, not the provider's failure: let it show
        # A risky piece settles the text whatever the pieces that failed would have said.
        if failures and not any(verdict.suggest == "risky" for verdict in verdicts):
            log.warning(
                "remote content check unavailable",
                provider=self.name,
                latency_ms=latency_ms,
                pieces=len(pieces),
                failed=len(failures),
                reason=failures[0].reason,
            )
            raise failures[0]
        verdict = worst(verdicts)
        log.info(
            "remote content check",
            provider=self.name,
            latency_ms=latency_ms,
            suggest=verdict.suggest,
            label=verdict.label,
            category=verdict.category,
            pieces=len(pieces),
        )
        return verdict

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.session.close()

    def pieces(self, text: str, title: str | None) -> list[Piece]:
        """The requests `text` and `title` make: the title goes with the first piece of text, or is
        checked as text itself when it is too long for that or there is no text."""
        contents = text_pieces(text.strip(), limit=self.max_content, overlap=self.piece_overlap)
        title = (title or "").strip() or None
        if title is None:
            return [Piece(content, None) for content in contents]
        if contents and utf16_length(title) <= self.max_content:
            return [Piece(contents[0], title), *(Piece(content, None) for content in contents[1:])]
        titles = text_pieces(title, limit=self.max_content, overlap=self.piece_overlap)
        return [Piece(content, None) for content in [*titles, *contents]]

    async def _check_piece(self, piece: Piece) -> RemoteVerdict:
        body: dict[str, Any] = {
            "content": piece.content,
            "version": 2,
            "scene": self.scene,
            "openid": self._openid,
        }
        if piece.title is not None:
            body["title"] = piece.title
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        connection = self._connect()

        async def send(token: str) -> dict[str, Any]:
            return await self._post(connection.session, token, data)

        try:
            async with asyncio.timeout(self._timeout):
                answer = await connection.tokens.call(send)
        except TimeoutError as error:
            raise self._unavailable(f"no answer within {self._timeout:g}s") from error
        except (TransientError, PermanentError) as error:
            # From the access token: WeChat refused the appid or secret, was unreachable, or kept
            # refusing the token.
            raise self._unavailable(f"no access token: {error}") from error
        except StoreError as error:
            raise self._unavailable(f"the access token's store failed: {type(error).__name__}") from error
        return self._verdict(answer)

    async def _post(self, session: aiohttp.ClientSession, token: str, data: bytes) -> dict[str, Any]:
        url = f"{self._api_base}/wxa/msg_sec_check?access_token={quote(token, safe='')}"
        try:
            async with session.post(
                url,
                data=data,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as response:
                status = response.status
                raw = await response.content.read(ANSWER_BYTES)
        except TimeoutError as error:
            raise self._unavailable(f"no answer within {self._timeout:g}s") from error
        except (aiohttp.ClientError, OSError) as error:
            raise self._unavailable(f"unreachable: {type(error).__name__}: {error}") from error
        if status != 200:
            raise self._unavailable(f"WeChat answered HTTP {status}")
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise self._unavailable("WeChat answered something that is not its JSON")
        return answer

    def _verdict(self, answer: dict[str, Any]) -> RemoteVerdict:
        code = errcode_of(answer)
        if code == 0:
            result = answer.get("result")
            suggest = result.get("suggest") if isinstance(result, dict) else None
            label = result.get("label") if isinstance(result, dict) else None
            if not isinstance(label, int) or isinstance(label, bool):
                raise self._unavailable("WeChat answered without a verdict (was it version 2?)")
            for known in SUGGESTS:
                if suggest == known:
                    return self._verdict_of(known, label)
            raise self._unavailable(f"WeChat answered an unknown suggestion {str(suggest)[:20]!r}")
        if code == RISKY_V1:
            return self._verdict_of("risky", OTHER)
        said = f"WeChat answered {code}: {errmsg_of(answer)}"
        hint = SETTINGS_REFUSED.get(code)
        if hint is not None:
            log.error("WeChat refused the content check's settings", errcode=code, hint=hint)
            raise self._unavailable(f"{said} ({hint})")
        raise self._unavailable(said)

    def _verdict_of(self, suggest: Suggest, label: int) -> RemoteVerdict:
        return RemoteVerdict(suggest, label, category_of(label), self.name)

    def _connect(self) -> Connection:
        """The session and token holder, opened on the first check (a session belongs to a running loop)."""
        if self._connection is None:
            session = open_api_session()
            api = WeChatApi(session, base_url=self._api_base)
            tokens = AccessTokens(self._store, api, appid=self._appid, secret=self._secret)
            self._connection = Connection(session, tokens)
        return self._connection

    def _unavailable(self, reason: str) -> RemoteCheckUnavailable:
        return RemoteCheckUnavailable(self.name, reason)


def wechat_checker_from_settings(settings: Settings, *, store: Store) -> WeChatContentCheck:
    """The checker the `moderation_wechat_*` settings describe; `RemoteCheckerConfigError` names what is
    missing. The appid and secret go together: the mini program's own, or else the official account's."""
    appid = settings.moderation_wechat_appid
    secret = settings.moderation_wechat_secret.get_secret_value()
    if appid or secret:
        if not (appid and secret):
            raise RemoteCheckerConfigError(
                "IGOT_MODERATION_WECHAT_APPID and IGOT_MODERATION_WECHAT_SECRET go together: set both, "
                "or neither to use the official account's"
            )
    else:
        appid, secret = settings.wechat_appid, settings.wechat_secret.get_secret_value()
        if not (appid and secret):
            raise RemoteCheckerConfigError(
                "IGOT_MODERATION_REMOTE=wechat needs the mini program's IGOT_MODERATION_WECHAT_APPID and "
                "IGOT_MODERATION_WECHAT_SECRET (or the official account's IGOT_WECHAT_APPID and "
                "IGOT_WECHAT_SECRET)"
            )
    if not settings.moderation_wechat_openid.strip():
        raise RemoteCheckerConfigError(
            "IGOT_MODERATION_REMOTE=wechat needs IGOT_MODERATION_WECHAT_OPENID: the openid of one of the "
            "mini program's users, for whom WeChat makes every check"
        )
    api_base = settings.moderation_wechat_api_base or settings.wechat_api_base
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RemoteCheckerConfigError(f"the WeChat API base is not an http(s) URL: {api_base!r}")
    return WeChatContentCheck(
        store,
        api_base=api_base,
        appid=appid,
        secret=secret,
        openid=settings.moderation_wechat_openid.strip(),
        timeout_seconds=settings.moderation_remote_timeout_seconds,
    )
