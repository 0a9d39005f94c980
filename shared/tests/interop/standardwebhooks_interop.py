#!/usr/bin/env python3
"""Interop partner for shared/tests/interop.rs: the PyPI `standardwebhooks` package, an
implementation of Standard Webhooks independent of ours.

Reads one JSON job on stdin:

    {"verify": [{"name", "secret", "id", "timestamp", "signature", "body"}, ...],
     "sign":   [{"name", "secret", "id", "timestamp", "body"}, ...]}

and writes one JSON object on stdout:

    {"library": "standardwebhooks <version>",
     "verified": {name: "ok" | "rejected: <reason>"},
     "signed":   {name: "v1,..."}}

Verification uses the library's own clock (it has no "now" parameter), so the Rust side
signs with the current time. Exit status 3 means the package is not installed.
"""

import json
import sys
from datetime import datetime, timezone

try:
    from standardwebhooks.webhooks import Webhook
except ImportError as e:  # pragma: no cover - reported to the Rust test
    sys.stderr.write(
        "the PyPI package `standardwebhooks` is not importable by %s (%s); install it with\n"
        "  python3 -m venv target/py && target/py/bin/pip install standardwebhooks==1.1.0\n"
        "and run the test with INTEROP_PYTHON=target/py/bin/python\n" % (sys.executable, e)
    )
    sys.exit(3)

try:
    from importlib.metadata import version

    LIBRARY = "standardwebhooks " + version("standardwebhooks")
except Exception:  # pragma: no cover
    LIBRARY = "standardwebhooks (version unknown)"


def verify(case):
    headers = {
        "webhook-id": case["id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": case["signature"],
    }
    try:
        Webhook(case["secret"]).verify(case["body"], headers, json_parse=False)
        return "ok"
    except Exception as e:  # WebhookVerificationError, or ValueError on odd headers
        return "rejected: %s: %s" % (type(e).__name__, e)


def sign(case):
    ts = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
    return Webhook(case["secret"]).sign(case["id"], ts, case["body"])


def main():
    job = json.load(sys.stdin)
    out = {
        "library": LIBRARY,
        "verified": {c["name"]: verify(c) for c in job.get("verify", [])},
        "signed": {c["name"]: sign(c) for c in job.get("sign", [])},
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
