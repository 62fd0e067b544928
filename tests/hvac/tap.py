"""TAP lines and the hvac client shared by the hvac suites (flow.py, wide.py, test_hvac.sh).

ok/eq/raises print numbered "ok N - ..." / "not ok N - ..." lines. A description that starts with
GAP is a known difference from Vault: when it fails it is reported as TAP "# TODO" (counted in
GAPS, not a failure); when it passes the line says the prefix can go. summary() prints the
closing "N passed, N failed[, N known gaps]" line and returns the exit status.
Environment: VAULT_ADDR (https://127.0.0.1:PORT) and TR_CA (the test CA, the only trust anchor).
"""
import os
import sys

import hvac
import requests

ADDR = os.environ["VAULT_ADDR"]
CA = os.environ["TR_CA"]
GAP = "KNOWN-GAP: "
N = FAILED = GAPS = 0


def ok(cond, desc):
    global N, FAILED, GAPS
    N += 1
    if cond:
        print("ok %d - %s%s" % (N, desc, " # gap closed: drop the prefix"
                                if desc.startswith(GAP) else ""))
    elif desc.startswith(GAP):
        GAPS += 1
        print("not ok %d - %s # TODO known gap" % (N, desc))
    else:
        FAILED += 1
        print("not ok %d - %s" % (N, desc))
    sys.stdout.flush()
    return cond


def eq(desc, got, want):
    return ok(got == want, desc if got == want else "%s (got %r, want %r)" % (desc, got, want))


def show(r):
    if isinstance(r, requests.Response):
        return "HTTP %d %s" % (r.status_code, r.text[:300])
    return repr(r)[:400]


def raises(exc, desc, fn, *args, **kwargs):
    """Pass when fn raises hvac exception class exc; returns the exception (None otherwise)."""
    try:
        r = fn(*args, **kwargs)
    except exc as e:
        ok(True, desc)
        return e
    except Exception as e:  # noqa: BLE001 - report which error it was
        ok(False, "%s (raised %s: %s)" % (desc, type(e).__name__, e))
        return None
    ok(False, "%s (no error, got %s)" % (desc, show(r)))
    return None


def client(token=None):
    # A session that ignores proxy and CA-bundle variables of the environment: the test CA passed
    # as verify= is the only trust anchor, so a passing run proves certificate verification.
    s = requests.Session()
    s.trust_env = False
    return hvac.Client(url=ADDR, token=token, verify=CA, session=s, timeout=20)


def setup():
    """A client of a new server: initialised with one share, unsealed, the root token set."""
    c = client()
    init = c.sys.initialize(secret_shares=1, secret_threshold=1)
    c.sys.submit_unseal_key(init["keys"][0])
    c.token = init["root_token"]
    return c


def summary(with_gaps=False):
    """Print the closing line (with the known gaps' count if with_gaps); the exit status (1 on
    any failure, known gaps excepted)."""
    gaps = ", %d known gaps" % GAPS if with_gaps else ""
    print("%d passed, %d failed%s" % (N - FAILED - GAPS, FAILED, gaps))
    return 1 if FAILED else 0
