#!/usr/bin/env python3
"""README.md's "What is cached, and how it stays right" table against
proto/operations.tsv, both ways.

The table is a list of rules, written for readers (some rules cut across
operations: ConsistentRead, ARNs, writes ddbx cannot key), so it is checked
rather than generated. Its columns: the operations a rule covers, their
class in operations.tsv (or "—" for a rule across classes), and what ddbx
does. Checked:
  - every class the table names is a class of operations.tsv, and every
    class of operations.tsv has a row;
  - every operation-like name in the first column is an operation of the
    TSV (or a word listed in NOT_OPERATIONS), and has the row's class; an
    operation "with ConsistentRead" is a cached_read one, covered by the
    consistent_read row;
  - the "everything else" row has the relay class, and every operation no
    other row names is a relay one (so each TSV operation is covered);
  - where a row names an operation, they agree: the identifiers of the
    operation's TSV note (ALL_NEW, ReturnValues, ...) appear in the row,
    and the row says what its class means (CLASS_WORDS).
Usage: check_readme_operations.py <README.md> <proto/operations.tsv>
"""
import re
import sys

# Words the table may use that look like operation names but are not.
NOT_OPERATIONS = {"ConsistentRead", "PartiQL", "DynamoDB"}
# What a row of each class must say (one of the phrases).
CLASS_WORDS = {
    "cached_read": ["from the item cache", "from the query cache"],
    "consistent_read": ["always the backend"],
    "write_through": ["backend first", "invalidated"],
    "schema_change": ["relayed"],
    "partiql": ["relayed"],
    "local": ["answered by ddbx"],
    "relay": ["relayed unchanged"],
}
NO_CLASS = "—"
EVERYTHING_ELSE = "everything else"


def load_tsv(path):
    header, ops = None, {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("#prefix") or line.startswith("# prefix"):
            header = line.lstrip("# ").split("\t")
        elif line and not line.startswith("#"):
            cols = dict(zip(header, line.split("\t")))
            ops[cols["name"]] = cols
    return ops


def readme_rows(path):
    text = open(path).read()
    m = re.search(r"^## What is cached, and how it stays right\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        sys.exit("README.md has no \"What is cached, and how it stays right\" section")
    rows = []
    for line in m.group(1).splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if cells[:2] == ["operation", "class"]:
            continue
        if len(cells) != 3:
            sys.exit("README row without three columns: %s" % line)
        rows.append((cells[0], cells[1].strip("`"), cells[2]))
    return rows


def identifiers(text):
    """Words a reader would search for: ALL_NEW, ReturnValues, GetItem."""
    return set(re.findall(r"\b(?:[A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)\b",
                          text))


def main():
    readme, tsv = sys.argv[1], sys.argv[2]
    ops = load_tsv(tsv)
    classes = {o["class"] for o in ops.values()}
    rows = readme_rows(readme)
    failures, named = [], set()
    for first, cls, what in rows:
        if cls != NO_CLASS and cls not in classes:
            failures.append("row \"%s\": class %s is not in operations.tsv" % (first, cls))
            continue
        if cls != NO_CLASS and not any(w in what for w in CLASS_WORDS.get(cls, [])):
            failures.append("row \"%s\" (%s) does not say %s" % (first, cls,
                            " or ".join('"%s"' % w for w in CLASS_WORDS.get(cls, ["?"]))))
        if first.startswith(EVERYTHING_ELSE):
            if cls != "relay":
                failures.append("the \"everything else\" row must be the relay class")
        for item in first.split(", "):
            consistent = "with ConsistentRead" in item
            words = identifiers(item) | (set(re.findall(r"\b[A-Z]\w*\b", item)) & set(ops))
            for word in sorted(words - NOT_OPERATIONS):
                op = ops.get(word)
                if not op:
                    failures.append("row \"%s\" names %s, not an operation of operations.tsv"
                                    % (first, word))
                    continue
                named.add(word)
                want = "cached_read" if consistent else cls
                if consistent and cls != "consistent_read":
                    failures.append("row \"%s\": \"with ConsistentRead\" belongs in the "
                                    "consistent_read row" % first)
                if op["class"] != want:
                    failures.append("row \"%s\" (%s) names %s, whose class is %s"
                                    % (first, cls, word, op["class"]))
                if not consistent:
                    for ident in sorted(identifiers(op.get("note", "")) - NOT_OPERATIONS):
                        if ident not in what:
                            failures.append("row \"%s\" does not mention %s, which "
                                            "operations.tsv's note for %s does"
                                            % (first, ident, word))
    row_classes = {cls for _, cls, _ in rows}
    for cls in sorted(classes - row_classes):
        failures.append("no row for the class %s of operations.tsv" % cls)
    if not any(first.startswith(EVERYTHING_ELSE) for first, _, _ in rows):
        failures.append("no \"everything else\" row")
    for name in sorted(set(ops) - named):
        if ops[name]["class"] != "relay":
            failures.append("%s (%s) is covered by no row: only relay operations fall under "
                            "\"everything else\"" % (name, ops[name]["class"]))
    for f in failures:
        print(f)
    if failures:
        return 1
    print("README's table covers the %d operations and %d classes of operations.tsv"
          % (len(ops), len(classes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
