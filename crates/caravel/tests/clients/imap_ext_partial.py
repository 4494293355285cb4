"""PARTIAL (RFC 9394, first in RFC 5267 §4.4), against a running server: a
window of the results of SEARCH and SORT, from the first or from the last."""

from common import expect
from imap_raw import Imap


def main():
    c = Imap()
    caps = c.ok("CAPABILITY").untagged[0]
    expect(b" PARTIAL" in caps and b"CONTEXT=SEARCH" in caps, f"{caps!r}")
    for n in range(5):
        c.append(f"From: a@far.test\nSubject: s{5 - n}\n\nbody\n")
    c.select()

    def esearch(command):
        r = c.ok(command)
        return r.lines("ESEARCH")[0].decode().split(")", 1)[1].strip()

    want = {
        "SEARCH RETURN (PARTIAL 1:1) ALL": "PARTIAL (1:1 1)",
        "SEARCH RETURN (PARTIAL 2:4) ALL": "PARTIAL (2:4 2:4)",
        "SEARCH RETURN (PARTIAL 4:2) ALL": "PARTIAL (2:4 2:4)",
        "SEARCH RETURN (PARTIAL 1:6) ALL": "PARTIAL (1:6 1:5)",
        "SEARCH RETURN (PARTIAL -1:-2) ALL": "PARTIAL (-1:-2 4:5)",
        "SEARCH RETURN (PARTIAL -3:-1) ALL": "PARTIAL (-1:-3 3:5)",
        "SEARCH RETURN (PARTIAL 6:9) ALL": "PARTIAL (6:9 NIL)",
        "SEARCH RETURN (COUNT PARTIAL 1:2) ALL": "COUNT 5 PARTIAL (1:2 1:2)",
        "UID SEARCH RETURN (PARTIAL 2:3) NOT 1": "UID PARTIAL (2:3 3:4)",
        "SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL": "PARTIAL (1:2 5,4)",
        "SORT RETURN (PARTIAL -1:-2) (SUBJECT) UTF-8 ALL": "PARTIAL (-1:-2 2,1)",
    }
    for command, data in want.items():
        got = esearch(command)
        expect(got == data, f"{command}: {got!r}, want {data!r}")
    for bad in ["1", "1:*", "*:1", "0:3", "-1:2", "1:-2"]:
        r = c.cmd(f"SEARCH RETURN (PARTIAL {bad}) ALL")
        expect(r.status() == "BAD", f"PARTIAL {bad}: {r}")
    c.close()


if __name__ == "__main__":
    main()
