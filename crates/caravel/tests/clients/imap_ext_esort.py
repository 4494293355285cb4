"""ESORT (RFC 5267 §3), against a running server: SORT RETURN (...) answers
with ESEARCH, MIN and MAX being the first and last in sort order, ALL the
numbers in sort order."""

from common import expect
from imap_raw import Imap


def main():
    c = Imap()
    expect(b" ESORT" in c.ok("CAPABILITY").untagged[0], "announced")
    for subject, size in [("delta", 10), ("alpha", 300), ("charlie", 50), ("bravo", 2000), ("echo", 5)]:
        c.append(f"From: a@far.test\nSubject: {subject}\n\n{'x' * size}\n")
    c.select()

    def esearch(command):
        r = c.ok(command)
        lines = r.lines("ESEARCH")
        expect(len(lines) == 1 and not r.lines("SORT"), f"{command}: {r}")
        return lines[0].decode()

    t = c.n + 1
    expect(esearch("SORT RETURN (MIN) (ARRIVAL) US-ASCII 1:5") == f'* ESEARCH (TAG "t{t}") MIN 1', "MIN")
    expect(esearch("SORT RETURN (MAX) (ARRIVAL) US-ASCII 1:5").endswith(" MAX 5"), "MAX")
    expect(esearch("SORT RETURN (ALL) (ARRIVAL) US-ASCII 1:5").endswith(" ALL 1:5"), "ALL")
    expect(esearch("SORT RETURN (COUNT) (ARRIVAL) US-ASCII 1:5").endswith(" COUNT 5"), "COUNT")
    line = esearch("SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL")
    expect(line.endswith(" MIN 2 MAX 5 ALL 2,4,3,1,5 COUNT 5"), f"in subject order: {line}")
    line = esearch("UID SORT RETURN () (REVERSE SIZE) UTF-8 ALL")
    expect(line.endswith(" UID ALL 4,2:3,1,5"), f"RETURN () is ALL, UIDs: {line}")
    line = esearch("SORT RETURN (COUNT) (SUBJECT) UTF-8 SUBJECT nothing-matches")
    expect(line.endswith(" COUNT 0"), line)
    r = c.ok("SORT (SUBJECT) UTF-8 ALL")
    expect(r.lines("SORT")[0] == b"* SORT 2 4 3 1 5", f"plain SORT is unchanged: {r}")
    expect(c.cmd("SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL").status() == "BAD", "unknown option")
    c.close()


if __name__ == "__main__":
    main()
