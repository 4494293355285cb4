"""Mail-program set-up from the address alone, as the programs do it, run by
tests/client_setup.rs: Thunderbird's autoconfig fetch, Outlook's POX
autodiscover, an Apple .mobileconfig read with plistlib, and the MTA-STS
policy. Every answer is parsed (ElementTree, plistlib) and then *used*: the
announced servers are signed in to. The test server's names resolve to
nowhere, so each request goes to 127.0.0.1 with the Host header (and TLS
server name) a program would send after resolving the name.
Ports from HTTP_PORT and HTTPS_PORT."""

import http.client
import imaplib
import plistlib
import poplib
import smtplib
import sys
import xml.etree.ElementTree as ET

from common import HOST, USER, PASSWORD, ctx, expect, port

HTTP, HTTPS = port("HTTP_PORT"), port("HTTPS_PORT")
DOMAIN = "example.test"
MX = "mail.example.test"


def fetch(method, host, path, body=None, headers=None, https=True):
    """One request to the server as if `host` resolved to it."""
    if https:
        c = http.client.HTTPSConnection(HOST, HTTPS, context=ctx(), timeout=10)
    else:
        c = http.client.HTTPConnection(HOST, HTTP, timeout=10)
    h = {"Host": host, "User-Agent": "scenario"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type") or "", data


def sign_in(protocol, port_, socket_type, username):
    """Signs in where the configuration says, the way it says."""
    if protocol == "imap":
        if socket_type == "SSL":
            m = imaplib.IMAP4_SSL(HOST, port_, ssl_context=ctx())
        else:
            m = imaplib.IMAP4(HOST, port_)
            m.starttls(ssl_context=ctx())
        typ, _ = m.login(username, PASSWORD)
        expect(typ == "OK", f"IMAP sign-in on {port_}")
        m.logout()
    elif protocol == "pop3":
        if socket_type == "SSL":
            p = poplib.POP3_SSL(HOST, port_, context=ctx())
        else:
            p = poplib.POP3(HOST, port_)
            p.stls(context=ctx())
        p.user(username)
        p.pass_(PASSWORD)
        p.quit()
    elif protocol == "smtp":
        if socket_type == "SSL":
            s = smtplib.SMTP_SSL(HOST, port_, context=ctx())
        else:
            s = smtplib.SMTP(HOST, port_)
            s.starttls(context=ctx())
        s.login(username, PASSWORD)
        s.quit()
    else:
        expect(False, f"unknown protocol {protocol}")


def thunderbird():
    # Thunderbird (mailnews/emailwizard FetchConfig) first asks the
    # domain's own servers, with the address as `emailaddress`:
    #   https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS
    #   https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ADDRESS
    # (and http:// for the first), and takes the first that parses.
    quoted = USER.replace("@", "%40")
    urls = [
        (True, f"autoconfig.{DOMAIN}", f"/mail/config-v1.1.xml?emailaddress={quoted}"),
        (True, DOMAIN, f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={quoted}"),
        (False, f"autoconfig.{DOMAIN}", f"/mail/config-v1.1.xml?emailaddress={quoted}"),
        (True, f"autoconfig.{DOMAIN}", "/mail/config-v1.1.xml"),
    ]
    for https, host, path in urls:
        status, ctype, body = fetch("GET", host, path, https=https)
        expect(status == 200 and "xml" in ctype, f"{host}{path}: {status} {ctype}")
        root = ET.fromstring(body)
        expect(root.tag == "clientConfig" and root.get("version") == "1.1", root.tag)
        provider = root.find("emailProvider")
        expect(provider is not None, "emailProvider")
        expect([d.text for d in provider.findall("domain")] == [DOMAIN], "domain")
        # The fields Thunderbird reads of each server (readFromXML).
        servers = []
        for kind in ("incomingServer", "outgoingServer"):
            for s in provider.findall(kind):
                entry = {
                    "type": s.get("type"),
                    "hostname": s.findtext("hostname"),
                    "port": int(s.findtext("port")),
                    "socketType": s.findtext("socketType"),
                    "username": s.findtext("username").replace("%EMAILADDRESS%", USER),
                    "authentication": s.findtext("authentication"),
                }
                expect(entry["hostname"] == MX, entry)
                expect(entry["socketType"] in ("SSL", "STARTTLS"), entry)
                expect(entry["authentication"] == "password-cleartext", entry)
                servers.append((kind, entry))
        incoming = [e for k, e in servers if k == "incomingServer"]
        outgoing = [e for k, e in servers if k == "outgoingServer"]
        # Thunderbird takes the first incoming server it supports: IMAP over TLS.
        expect(incoming[0]["type"] == "imap" and incoming[0]["socketType"] == "SSL", incoming[0])
        expect(outgoing[0]["type"] == "smtp" and outgoing[0]["socketType"] == "SSL", outgoing[0])
        expect({e["type"] for e in incoming} == {"imap", "pop3"}, incoming)
    # Every announced server works with the announced settings.
    for _, e in servers:
        sign_in(e["type"], e["port"], e["socketType"], e["username"])
    # Other domains: nothing (Thunderbird goes on to its next source).
    status, _, _ = fetch("GET", "autoconfig.other.test", "/mail/config-v1.1.xml?emailaddress=a%40other.test")
    expect(status == 404, f"a domain not served here: {status}")
    status, _, _ = fetch("GET", "autoconfig.example.test", "/mail/config-v1.1.xml?emailaddress=nonsense")
    expect(status == 404, f"not an address: {status}")
    print("thunderbird ok")


AUTODISCOVER_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""

NS = {
    "a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
    "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
}


def outlook():
    # Outlook POSTs to https://DOMAIN/autodiscover/autodiscover.xml, then
    # https://autodiscover.DOMAIN/autodiscover/autodiscover.xml.
    for host, path in [(DOMAIN, "/autodiscover/autodiscover.xml"),
                       (f"autodiscover.{DOMAIN}", "/Autodiscover/Autodiscover.xml")]:
        status, ctype, body = fetch("POST", host, path, AUTODISCOVER_REQUEST.format(address=USER).encode(),
                                    {"Content-Type": "text/xml"})
        expect(status == 200 and "xml" in ctype, f"{path}: {status} {ctype}")
        root = ET.fromstring(body)
        expect(root.tag == "{%s}Autodiscover" % NS["a"], root.tag)
        account = root.find("o:Response/o:Account", NS)
        expect(account is not None, body.decode())
        expect(account.findtext("o:AccountType", namespaces=NS) == "email", "AccountType")
        expect(account.findtext("o:Action", namespaces=NS) == "settings", "Action")
        protocols = {p.findtext("o:Type", namespaces=NS): p for p in account.findall("o:Protocol", NS)}
        expect(set(protocols) == {"IMAP", "POP3", "SMTP"}, list(protocols))
        for kind, p in protocols.items():
            server = p.findtext("o:Server", namespaces=NS)
            login = p.findtext("o:LoginName", namespaces=NS)
            ssl_on = p.findtext("o:SSL", namespaces=NS) == "on"
            expect(server == MX and login == USER, f"{kind}: {server} {login}")
            expect(p.findtext("o:AuthRequired", namespaces=NS) == "on", kind)
            sign_in(kind.lower(), int(p.findtext("o:Port", namespaces=NS)), "SSL" if ssl_on else "STARTTLS", login)
    status, _, body = fetch("POST", DOMAIN, "/autodiscover/autodiscover.xml",
                            AUTODISCOVER_REQUEST.format(address="a@other.test").encode())
    root = ET.fromstring(body)
    code = root.findtext("a:Response/a:Error/a:ErrorCode", namespaces=NS)
    expect(status == 200 and code == "600", f"another domain: {status} {body}")
    status, _, body = fetch("POST", DOMAIN, "/autodiscover/autodiscover.xml", b"<Autodiscover/>")
    expect(ET.fromstring(body).findtext("a:Response/a:Error/a:ErrorCode", namespaces=NS) == "600", body)
    print("outlook ok")


def apple():
    status, ctype, body = fetch("GET", MX, "/apple/mobileconfig?email=" + USER.replace("@", "%40"))
    expect(status == 200 and ctype == "application/x-apple-aspen-config", f"{status} {ctype}")
    profile = plistlib.loads(body)
    expect(profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1, profile)
    (mail,) = profile["PayloadContent"]
    expect(mail["PayloadType"] == "com.apple.mail.managed", mail)
    expect(mail["EmailAccountType"] == "EmailTypeIMAP" and mail["EmailAddress"] == USER, mail)
    expect(mail["IncomingMailServerHostName"] == MX and mail["OutgoingMailServerHostName"] == MX, mail)
    expect(mail["PayloadUUID"] != profile["PayloadUUID"], "two UUIDs")
    sign_in("imap", mail["IncomingMailServerPortNumber"],
            "SSL" if mail["IncomingMailServerUseSSL"] else "STARTTLS", mail["IncomingMailServerUsername"])
    sign_in("smtp", mail["OutgoingMailServerPortNumber"],
            "SSL" if mail["OutgoingMailServerUseSSL"] else "STARTTLS", mail["OutgoingMailServerUsername"])
    # The same address gets the same identifiers (a reinstall replaces).
    _, _, again = fetch("GET", MX, "/apple/mobileconfig?email=" + USER)
    expect(plistlib.loads(again)["PayloadUUID"] == profile["PayloadUUID"], "stable UUID")
    for query in ["", "?email=a%40other.test", "?email=%3Cscript%3E"]:
        status, _, _ = fetch("GET", MX, "/apple/mobileconfig" + query)
        expect(status == 404, f"{query}: {status}")
    print("apple ok")


def mta_sts():
    status, ctype, body = fetch("GET", f"mta-sts.{DOMAIN}", "/.well-known/mta-sts.txt")
    expect(status == 200 and ctype.startswith("text/plain"), f"{status} {ctype}")
    text = body.decode()
    expect(text.endswith("\r\n"), repr(text))
    # RFC 8461 §3.2: "key: value" lines.
    fields = {}
    for line in text.split("\r\n")[:-1]:
        k, v = line.split(":", 1)
        fields.setdefault(k.strip(), []).append(v.strip())
    expect(fields["version"] == ["STSv1"], fields)
    expect(fields["mode"] == [sys.argv[2] if len(sys.argv) > 2 else "testing"], fields)
    expect(fields["mx"] == [MX], fields)
    expect(0 < int(fields["max_age"][0]) <= 31557600, fields)
    for host in ["mta-sts.other.test", DOMAIN, MX]:
        status, _, _ = fetch("GET", host, "/.well-known/mta-sts.txt")
        expect(status == 404, f"{host}: {status}")
    print("mta-sts ok")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
