"""The join connection string, checked as ``microk8s join`` checks it before contacting anyone.

microk8s@1.32 scripts/wrappers/join.py get_valid_connection_parts: ``<IP>:<PORT>/<TOKEN>[/<CHECK>]``,
an IP address (not a name), a port 1-65535, a token of at least 32 characters and a certificate
check of at least 12 (scripts/wrappers/common/cluster/utils.py TOKEN_MIN_LEN, FINGERPRINT_MIN_LEN).
"""

from __future__ import annotations

import ipaddress
from typing import Final

from installer.errors import UsageError

TOKEN_MIN_LEN: Final = 32
FINGERPRINT_MIN_LEN: Final = 12
CLUSTER_AGENT_PORT: Final = 25000
_HINT: Final = "Copy the join command that `./install.sh add-node` printed on the member (ADDR:25000/TOKEN/CHECK)."


def check_connection(text: str) -> str:
    """``text`` when it is a valid connection string; a usage error (exit 2) naming what is wrong otherwise."""
    parts = text.split("/")
    if len(parts) not in (2, 3):
        msg = f"join connection {text.split('/', maxsplit=1)[0]}/...: expected ADDR:PORT/TOKEN[/CHECK]"
        raise UsageError(msg, _HINT)
    endpoint = parts[0].split(":")
    if len(endpoint) != 2:
        msg = f"join connection {parts[0]}: expected ADDR:PORT before the token"
        raise UsageError(msg, _HINT)
    try:
        ipaddress.ip_address(endpoint[0])
    except ValueError:
        msg = f"join connection {parts[0]}: {endpoint[0]!r} is not an IP address (microk8s join takes no names)"
        raise UsageError(msg, _HINT) from None
    if not endpoint[1].isdigit() or not 1 <= int(endpoint[1]) <= 65535:
        msg = f"join connection {parts[0]}: port {endpoint[1]!r} is not in 1-65535"
        raise UsageError(msg, _HINT)
    if len(parts[1]) < TOKEN_MIN_LEN:
        msg = (f"join connection {parts[0]}/...: the token has {len(parts[1])} characters, "
               f"at least {TOKEN_MIN_LEN} needed")
        raise UsageError(msg, _HINT)
    if len(parts) == 3 and len(parts[2]) < FINGERPRINT_MIN_LEN:
        msg = f"join connection {parts[0]}/...: the certificate check is shorter than {FINGERPRINT_MIN_LEN} characters"
        raise UsageError(msg, _HINT)
    return text
