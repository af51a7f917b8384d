"""schemathesis hooks for tests/scrum/test_scrum_schema.py (SCHEMATHESIS_HOOKS).

Each operation's requests come from a client address of its own, as a proxy the server
trusts (NUM_PROXIES=1) would say: the login limit locks a client out after 10 failed logins,
and schemathesis's ignored_auth check sends each operation a wrong password. From one address,
the eleventh operation would be answered 429 (locked out) where the check expects 401.
"""

import schemathesis

CLIENTS = {}  # operation -> its client's number


@schemathesis.hook
def before_call(context, case, kwargs):
    """Send the request from its operation's own address."""
    number = CLIENTS.setdefault(case.operation.label, len(CLIENTS) + 1)
    case.headers = {**(case.headers or {}), "X-Forwarded-For": f"198.51.100.{number}"}
