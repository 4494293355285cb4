"""/metrics scraped as Prometheus does, run by tests/metrics.rs: the text is
parsed with the Prometheus client library's parsers (the classic text format
and OpenMetrics), and what the scenario did (a message received, a recipient
refused, a failed sign-in, a signed-in IMAP session) shows in the counters.
The counters are the process's, shared with other tests running alongside:
the checks are on increases. Ports from HTTP_PORT, SMTP_PORT, IMAPS_PORT."""

import http.client
import imaplib
import os
import smtplib
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
except ImportError:
    # Debian's python3-prometheus-client is for Debian's python.
    if sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from common import HOST, PASSWORD, USER, ctx, expect, port

HTTP, SMTP, IMAPS = port("HTTP_PORT"), port("SMTP_PORT"), port("IMAPS_PORT")


def scrape(accept=None, headers=None):
    c = http.client.HTTPConnection(HOST, HTTP, timeout=10)
    h = {"Accept": accept} if accept else {}
    h.update(headers or {})
    c.request("GET", "/metrics", headers=h)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type") or "", body


def samples(text, parser=text_string_to_metric_families):
    """{(sample name, frozenset of labels): value}, and {family: type}."""
    values, types = {}, {}
    for family in parser(text):
        types[family.name] = family.type
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, types


def value(values, name, **labels):
    return values.get((name, frozenset(labels.items())), 0.0)


def counts_what_happened():
    status, ctype, text = scrape()
    expect(status == 200 and ctype.startswith("text/plain; version=0.0.4"), f"{status} {ctype}")
    before, types = samples(text)
    for family, kind in [("caravel_messages_received", "counter"), ("caravel_sign_in_failures", "counter"),
                         ("caravel_queue_messages", "gauge"), ("caravel_queue_oldest_seconds", "gauge"),
                         ("caravel_store_bytes", "gauge"), ("caravel_delivery_attempt_seconds", "histogram"),
                         ("caravel_account_locks", "counter"), ("caravel_address_bans", "counter"),
                         ("caravel_filter_verdicts", "counter"), ("caravel_build_info", "gauge")]:
        expect(types.get(family) == kind, f"{family}: {types.get(family)}")

    # A message in, a recipient refused, on port 25.
    s = smtplib.SMTP(HOST, SMTP)
    s.ehlo("partner.test")
    s.mail("buyer@partner.test")
    code, _ = s.rcpt("nobody@example.test")
    expect(code == 550, f"unknown recipient: {code}")
    s.rcpt(USER)
    s.data(b"From: buyer@partner.test\r\nTo: " + USER.encode() + b"\r\nSubject: order 7\r\n\r\nHello.\r\n")
    s.quit()
    # A wrong password, then a signed-in session kept open while scraping.
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    try:
        m.login(USER, "Wrong-Password-2026")
        expect(False, "a wrong password signed in")
    except imaplib.IMAP4.error:
        pass
    m = imaplib.IMAP4_SSL(HOST, IMAPS, ssl_context=ctx())
    m.login(USER, PASSWORD)
    m.select("INBOX")

    _, _, text = scrape()
    after, types = samples(text)
    for family, kind in [("caravel_connections", "counter"), ("caravel_messages_rejected", "counter"),
                         ("caravel_smtp_data_seconds", "histogram"), ("caravel_imap_command_seconds", "histogram"),
                         ("caravel_sessions_signed_in", "gauge"), ("caravel_connections_open", "gauge")]:
        expect(types.get(family) == kind, f"{family}: {types.get(family)}")
    grew = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
    expect(grew("caravel_messages_received_total", service="smtp") >= 1, "received")
    expect(grew("caravel_messages_rejected_total", reason="unknown_recipient") >= 1, "rejected by reason")
    expect(grew("caravel_messages_delivered_total", destination="local") >= 1, "delivered locally")
    expect(grew("caravel_filter_verdicts_total", verdict="accept") >= 1, "a filter verdict")
    expect(grew("caravel_sign_in_failures_total", protocol="imap") >= 1, "sign-in failure")
    expect(grew("caravel_connections_total", service="smtp") >= 1, "connections")
    expect(grew("caravel_connections_total", service="imaps") >= 2, "connections")
    expect(grew("caravel_smtp_data_seconds_count", service="smtp") >= 1, "a DATA latency observed")
    expect(grew("caravel_imap_command_seconds_count") >= 2, "IMAP command latencies")
    expect(value(after, "caravel_sessions_signed_in", protocol="imap") >= 1, "the open session")
    expect(value(after, "caravel_connections_open", service="imaps") >= 1, "an open connection")
    expect(value(after, "caravel_store_bytes") > 0, "the store's size")
    expect(value(after, "caravel_queue_messages") >= 0, "queue size")
    expect(any(n == "caravel_build_info" and v == 1 for (n, _), v in after.items()), "build info")
    # Histogram buckets are cumulative and end at +Inf = count.
    buckets = sorted((float(dict(k)["le"]), v) for (n, k), v in after.items()
                     if n == "caravel_imap_command_seconds_bucket")
    expect(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"cumulative: {buckets}")
    expect(buckets[-1][0] == float("inf") and buckets[-1][1] == value(after, "caravel_imap_command_seconds_count"),
           "+Inf is the count")
    m.logout()

    # OpenMetrics when asked for it, parsed by the strict OpenMetrics parser.
    status, ctype, text = scrape("application/openmetrics-text; version=1.0.0")
    expect(status == 200 and ctype.startswith("application/openmetrics-text"), ctype)
    om, _ = samples(text, openmetrics_families)
    expect(value(om, "caravel_messages_received_total", service="smtp") >= 1, "OpenMetrics parse")
    # Through a reverse proxy on this machine the peer is 127.0.0.1: what
    # the proxy forwards is not from here.
    status, _, text = scrape(headers={"X-Forwarded-For": "203.0.113.9"})
    expect(status == 403 and "proxy" in text, f"forwarded: {status} {text}")
    print("metrics ok")


def refused_to_others():
    status, _, text = scrape()
    expect(status == 403 and "[metrics] allow" in text, f"{status} {text}")
    print("refused ok")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
