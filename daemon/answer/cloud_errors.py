"""Why the cloud model did not answer: one error, its code says which way it failed."""

from __future__ import annotations

from secondself.core.errors import SecondselfError, Stage


class CloudError(SecondselfError):
    """The cloud did not answer; `code` says why. The turn falls back to the local answer."""

    UNREACHABLE = "cloud-unreachable"  # refused, no route, DNS, TLS, connection lost
    TIMEOUT = "cloud-timeout"  # connect, first token or whole answer took too long
    HTTP = "cloud-http"  # a non-200 status other than auth
    AUTH = "cloud-auth"  # 401/403: the key is missing or wrong
    BAD_REPLY = "cloud-bad-reply"  # not the OpenAI chat format
    BREAKER_OPEN = "cloud-breaker-open"  # too many recent failures: not tried
    NOT_ALLOWED = "cloud-not-allowed"  # the persona's policy is `never`

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, Stage.ANSWER)
