"""Who may read the dashboard, and as whom.

Tokens are created in the CLI (`scalegate serve token create --role internal|public`), shown
once, and stored as salted sha256 digests in a JSON file; the server compares digests in
constant time. A request carries its token as `Authorization: Bearer TOKEN`, or as the
password of HTTP Basic credentials (a browser asks for them itself). Roles: `internal` sees
everything; `public` sees exactly what `audit export --public` would.

A server bound to a loopback address with no tokens configured serves everyone on this
machine as `internal` (the default, like `inspect view`); any other bind refuses to start
without tokens, and once tokens exist every request needs one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scalegate.errors import InputError

Role = Literal["internal", "public"]
ROLES: tuple[Role, ...] = ("internal", "public")
DEFAULT_TOKENS = Path(".scalegate") / "serve-tokens.json"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _digest(token: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + token.encode()).hexdigest()


def load_tokens(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a token file ({exc})") from exc
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and {"salt", "sha256", "role"} <= set(v) and v["role"] in ROLES
        for v in data.values()
    ):
        raise InputError(f"{path}: not a token file (expected name -> {{salt, sha256, role}})")
    return data


def create_token(path: Path, name: str, role: str) -> str:
    """A new token for `role`, stored hashed under `name`; the token itself is returned once."""
    if role not in ROLES:
        raise InputError(f"--role {role}: choose {' or '.join(ROLES)}")
    tokens = load_tokens(path)
    if name in tokens:
        raise InputError(f"a token named {name!r} exists in {path}; choose another --name")
    token = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    tokens[name] = {"salt": salt, "sha256": _digest(token, salt), "role": role}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return token


@dataclass(frozen=True)
class Access:
    """The server's rule: open to this machine (no tokens), or by token."""

    tokens: dict[str, dict[str, str]]

    @property
    def open(self) -> bool:
        return not self.tokens

    def role_of(self, authorization: str | None) -> Role | None:
        """The role a request's Authorization header grants, or None (refused)."""
        if self.open:
            return "internal"
        token = _presented(authorization)
        if token is None:
            return None
        for entry in self.tokens.values():
            if hmac.compare_digest(_digest(token, entry["salt"]), entry["sha256"]):
                return entry["role"]  # type: ignore[return-value]
        return None


def _presented(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or None
    return None


def for_bind(host: str, tokens_file: Path) -> Access:
    """The access rule for a bind: a non-loopback bind without tokens is refused up front."""
    access = Access(load_tokens(tokens_file))
    if access.open and not is_loopback(host):
        raise InputError(
            f"--host {host} is reachable from other machines and {tokens_file} holds no token: create one "
            "with `scalegate serve token create --role internal` (or bind 127.0.0.1)"
        )
    return access
