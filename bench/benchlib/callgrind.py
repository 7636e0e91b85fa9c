"""Instructions per request, counted by valgrind's callgrind: deterministic
whatever else runs on the machine, where CPU time from /proc is not.

A target runs under `valgrind --tool=callgrind` for the whole benchmark; each
measured run zeroes its counters first (`callgrind_control -z`) and dumps them
after (`callgrind_control -d`), so a dump holds exactly that run's work (plus
the few requests in flight at either edge: at a few connections, noise under
0.1% of thousands of requests). Kernel time is not counted: callgrind sees
user-space instructions only."""
import glob
import os
import re
import subprocess


def wrap(out_prefix):
    """A function turning a command into the same command under callgrind."""
    def w(cmd):
        return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_prefix}.%p"] + list(cmd)
    return w


def _control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120)


def zero(pid):
    _control("-z", pid)


def dump(pid, out_prefix):
    """Dumps pid's counters; returns (path of the new dump, instructions in it)."""
    before = set(glob.glob(f"{out_prefix}.{pid}*"))
    _control("-d", pid)
    new = sorted(set(glob.glob(f"{out_prefix}.{pid}*")) - before, key=os.path.getmtime)
    if not new:
        raise RuntimeError(f"callgrind wrote no dump for {pid}")
    return new[-1], instructions(new[-1])


def instructions(path):
    """The Ir total of a callgrind dump (its summary: or totals: line)."""
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no totals in {path}")


def top_functions(path, n=30):
    """callgrind_annotate's table of the n functions with most instructions
    (self), after its program total."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path], capture_output=True,
                         text=True).stdout
    lines = out.splitlines()
    total = next((l for l in lines if "PROGRAM TOTALS" in l), "")
    try:
        i = next(k for k, l in enumerate(lines) if "file:function" in l) + 1
    except StopIteration:
        return out[:4000]
    while i < len(lines) and lines[i].startswith("---"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].strip() and len(rows) < n:
        rows.append(lines[i])
        i += 1
    return "\n".join([total, ""] + rows)
