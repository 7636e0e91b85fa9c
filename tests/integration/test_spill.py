"""test_spill.py: the spill tier under the item cache (issue 11), seen from the backend.

ddbx runs with a small --memory and a --spill-dir of its own, in front of a
FaultProxy that counts every request reaching moto, so a test knows when an
item came from ddbx's RAM or disk (no backend request) and when from moto.

- 16 MiB of items written through a 4 MiB cache all read back right with no
  backend request, anonymous memory staying near --memory all along;
- a warm restart after SIGTERM serves the spill without backend reads, and a
  table deleted and created again after it never gets its old records back;
- after kill -9 the spill is discarded: a value written straight to moto
  meanwhile is what the next start serves;
- a 1 MiB map, a small tmpfs and a file-size limit fill up: requests keep
  succeeding with the right answers, and ddbx stops cleanly;
- a write through ddbx to a spilled key is never followed by the spilled
  value, also when the write's answer is held while reads and evictions run;
- the randomized write-rule run of test_stress.py with an 8 KiB cache and a
  spill, and a thread writing other items to push the keys out of RAM.
"""
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from botocore.exceptions import ClientError

from harness import (Ddbx, FaultProxy, IntegrationTestCase, MotoServer, client, create_table,
                     wait_until)
import test_stress
from test_cache import S, N, key, item, stops_cleanly
from test_query_cache import create_scores

MIB = 1024 * 1024
MEMORY = 4 * MIB
VALUE_BYTES = 4000          # each item is about 4 KB
ITEMS_16M = 16 * MIB // VALUE_BYTES
# Anonymous memory a ddbx may add to what it held idle, beyond --memory: the
# spill's queue (an eighth of --memory, 1 MiB at least), LMDB's dirty pages of
# a write transaction, buffers of requests in flight, malloc's per-thread
# arenas. (Measured: 0.9 to 1.1 MiB.)
ANON_SLACK = 4 * MIB
SPILL_HITS = "ddbx_spill_hits_total"


def big_item(i, version=0, size=VALUE_BYTES):
    pk = "k%06d" % i
    return item(pk, v=N(str(version)), p=S((("%s-%d-" % (pk, version)) * (size // 12 + 1))[:size]))


def sanitized(pid):
    """True when the process runs under AddressSanitizer, whose allocator adds
    redzones to every allocation (about twice the memory for small ones)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon for %d" % pid)


class AnonSampler:
    """Samples a process's anonymous RSS every 50 ms in a thread; .peak_kib."""

    def __init__(self, pid):
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, rss_anon_kib(self.pid))
            except (OSError, AssertionError):
                return
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(2)


class SpillTestCase(IntegrationTestCase):
    """moto and a FaultProxy shared by a class; each test starts its own ddbx(es)."""

    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.direct = client(cls.moto.endpoint)

    def setUp(self):
        self.addCleanup(self.proxy.clear)

    def new_dir(self):
        d = tempfile.mkdtemp(prefix="ddbx-it-spill-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def spill_ddbx(self, spill_dir, *flags, memory="4MiB", binary=None, env=None, clean=True):
        """A ddbx with the tier in spill_dir; stopped at the end (cleanly, or the
        test fails, unless clean=False: a test that kills it)."""
        d = Ddbx(self.proxy.endpoint, "--memory", memory, "--spill-dir", spill_dir,
                 "--item-ttl", "1h", "--negative-ttl", "1h", "--backend-timeout", "5s", *flags,
                 binary=binary, env=env)
        self.start(d)
        if clean:
            self.addCleanup(stops_cleanly, d)
        self.addCleanup(self.proxy.clear)  # runs first: nothing held keeps ddbx waiting
        return d

    def table(self, c):
        name = "spill_%s" % self._testMethodName[5:40]
        create_table(c, name)
        return name

    def write_all(self, c, t, items):
        """BatchWriteItem through ddbx, 25 at a time (write-through caches each item)."""
        for i in range(0, len(items), 25):
            r = c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": it}}
                                                     for it in items[i:i + 25]]})
            self.assertEqual(r.get("UnprocessedItems", {}), {})

    def read_all(self, endpoint, t, items, threads=2):
        """Reads every item through ddbx (GetItem, a few threads); returns the
        keys whose answer was not the item."""
        wrong = []

        def part(n):
            c = client(endpoint)
            for it in items[n::threads]:
                got = c.get_item(TableName=t, Key={"pk": it["pk"]}).get("Item")
                if got != it:
                    wrong.append(it["pk"]["S"])
        ths = [threading.Thread(target=part, args=(n,)) for n in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        return wrong

    def backend_reads(self, before):
        ops = self.proxy.ops_since(before)
        return {op: n for op, n in ops.items()
                if op in ("GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan")}


class SpillTest(SpillTestCase):

    def test_16_mib_of_items_through_4_mib_of_ram(self):
        # under ASan, freed memory would sit in its quarantine: none here, so the
        # figure is what ddbx holds (other tests keep the quarantine)
        asan = os.environ.get("ASAN_OPTIONS", "")
        d = self.spill_ddbx(self.new_dir(), env={"ASAN_OPTIONS": asan + (":" if asan else "") +
                                                 "quarantine_size_mb=0:"
                                                 "thread_local_quarantine_size_kb=0"})
        c = client(d.endpoint)
        t = self.table(c)
        items = [big_item(i) for i in range(ITEMS_16M)]
        idle = rss_anon_kib(d.proc.pid)
        with AnonSampler(d.proc.pid) as anon:
            self.write_all(c, t, items)
            before, m0 = self.proxy.snapshot(), d.metrics()
            wrong = self.read_all(d.endpoint, t, items)
            reads = self.backend_reads(before)
        m = d.metrics_since(m0)
        total = d.metrics()
        print("\n16 MiB through 4 MiB: anonymous RSS idle %.1f MiB, peak %.1f MiB; "
              "spill entries %d, %.1f MiB of map; %d spill hits"
              % (idle / 1024, anon.peak_kib / 1024, total["ddbx_spill_entries"],
                 total["ddbx_spill_bytes"] / MIB, m[SPILL_HITS]))
        self.assertEqual(wrong, [])
        self.assertEqual(reads, {})
        self.assertLessEqual(total["ddbx_item_cache_bytes"], MEMORY)
        # most of the items cannot be in RAM: they came from the spill
        self.assertGreater(m[SPILL_HITS], len(items) * 2 // 3)
        self.assertEqual(total["ddbx_spill_paused"], 0)
        # anonymous memory grew by --memory and a little, not by what was spilled
        redzones = 2 if sanitized(d.proc.pid) else 1
        self.assertLess((anon.peak_kib - idle) * 1024, redzones * MEMORY + ANON_SLACK)

    def test_warm_restart_after_sigterm(self):
        spill_dir = self.new_dir()
        d = self.spill_ddbx(spill_dir)
        c = client(d.endpoint)
        t = self.table(c)
        items = [big_item(i) for i in range(2000)]  # 8 MiB: half in RAM, half spilled
        self.write_all(c, t, items)
        stops_cleanly(d)
        self.assertRegex(d.log_text(), r"spill: \d+ entries written from RAM")
        d2 = self.spill_ddbx(spill_dir)
        self.assertIn("warm (clean stop)", d2.log_text())
        before, m0 = self.proxy.snapshot(), d2.metrics()
        self.assertEqual(self.read_all(d2.endpoint, t, items), [])
        self.assertEqual(self.backend_reads(before), {})
        self.assertEqual(set(self.proxy.ops_since(before)), {"DescribeTable"})  # its schema
        self.assertEqual(d2.metrics_since(m0)[SPILL_HITS], len(items))

    def test_a_table_created_again_after_a_warm_restart(self):
        # the table gets the first epoch of a fresh ddbx; its re-creation after a
        # restart must not be given that epoch again (the counter is kept too)
        spill_dir = self.new_dir()
        d = self.spill_ddbx(spill_dir)
        c = client(d.endpoint)
        t = self.table(c)
        self.write_all(c, t, [big_item(i) for i in range(10)])
        stops_cleanly(d)
        d2 = self.spill_ddbx(spill_dir)
        c2 = client(d2.endpoint)
        c2.delete_table(TableName=t)
        create_table(c2, t)
        before = self.proxy.snapshot()
        for i in range(10):
            self.assertIsNone(c2.get_item(TableName=t, Key=key("k%06d" % i)).get("Item"))
        self.assertEqual(self.backend_reads(before), {"GetItem": 10})

    def test_kill_9_then_a_direct_write(self):
        spill_dir = self.new_dir()
        d = self.spill_ddbx(spill_dir, clean=False)
        c = client(d.endpoint)
        t = self.table(c)
        items = [big_item(i) for i in range(2000)]
        self.write_all(c, t, items)
        wait_until(lambda: d.metric("ddbx_spill_entries") > 500, 10, what="records committed")
        d.stop(sig=9)
        newer = [big_item(i, version=1) for i in range(0, 2000, 10)]
        for i in range(0, len(newer), 25):
            self.direct.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": it}}
                                                           for it in newer[i:i + 25]]})
        d2 = self.spill_ddbx(spill_dir)
        self.assertIn("discarded (no clean mark", d2.log_text())
        self.assertEqual(d2.metric("ddbx_spill_entries"), 0)
        before = self.proxy.snapshot()
        self.assertEqual(self.read_all(d2.endpoint, t, newer), [])
        self.assertEqual(self.backend_reads(before), {"GetItem": len(newer)})

    # ---- the tier fills up

    def fill_up(self, d, n_items=2000):
        """Writes and reads back n_items of 4 KB through d; asserts every answer."""
        c = client(d.endpoint)
        t = self.table(c)
        items = [big_item(i) for i in range(n_items)]
        self.write_all(c, t, items)
        self.assertEqual(self.read_all(d.endpoint, t, items), [])
        self.assertTrue(d.alive())
        return d.metrics()

    def test_a_1_mib_map_fills_up(self):
        d = self.spill_ddbx(self.new_dir(), "--spill-size", "1MiB")
        m = self.fill_up(d)
        self.assertGreater(m["ddbx_spill_evictions_total"] + m["ddbx_spill_dropped_total"], 0)
        self.assertLess(m["ddbx_spill_bytes"], MIB)

    def assert_full_disk_handled(self, d):
        m = self.fill_up(d)
        self.assertGreater(m["ddbx_spill_pauses_total"], 0)  # the disk filled up
        self.assertGreater(m["ddbx_spill_hits_total"], 0)    # what fitted was served

    def test_a_small_tmpfs_fills_up(self):
        spill_dir = self.new_dir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", spill_dir],
                                 capture_output=True).returncode == 0
        if mounted:
            self.addCleanup(subprocess.run, ["umount", spill_dir])
            d = self.spill_ddbx(spill_dir, "--spill-size", "64MiB")
        else:  # not allowed to mount here: a file-size limit stands in for the full disk
            print("\nmount failed (not root?): a 2 MiB file-size limit stands in for the tmpfs")
            d = self.spill_ddbx(spill_dir, "--spill-size", "64MiB",
                                binary=self.size_limited_binary(2 * MIB))
        self.assert_full_disk_handled(d)

    def size_limited_binary(self, limit):
        """A wrapper that execs ddbx with RLIMIT_FSIZE at limit and SIGXFSZ ignored
        (a write past the limit then fails with EFBIG, as on a full disk)."""
        real = Ddbx("").binary
        path = os.path.join(self.new_dir(), "ddbx-fsize")
        with open(path, "w") as f:
            f.write("#!%s\nimport os, resource, signal, sys\n"
                    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                    "resource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d))\n"
                    "os.execv(%r, [%r] + sys.argv[1:])\n" % (sys.executable, limit, limit, real, real))
        os.chmod(path, 0o755)
        return path

    def test_a_file_size_limit_fills_up(self):
        d = self.spill_ddbx(self.new_dir(), "--spill-size", "64MiB",
                            binary=self.size_limited_binary(2 * MIB))
        self.assert_full_disk_handled(d)


class SpilledKeyWriteTest(SpillTestCase):
    """A write through ddbx to a key whose value is in the spill. The cache is
    2 MiB, so each push of 8 MiB is four budgets: under CLOCK an entry read
    since it last reached the LRU tail gets a second turn, and leaves on the
    next."""

    def setUp(self):
        super().setUp()
        self.d = self.spill_ddbx(self.new_dir(), "--write-holdoff", "1s", memory="2MiB")
        self.c = client(self.d.endpoint)
        self.t = self.table(self.c)
        self.round = 0

    def push_out(self):
        """Writes 8 MiB of other items through ddbx: everything older leaves RAM."""
        self.round += 1
        self.write_all(self.c, self.t, [big_item(100000 * self.round + i) for i in range(2000)])

    def get(self, pk):
        return self.c.get_item(TableName=self.t, Key=key(pk)).get("Item")

    def spilled(self, pk, value):
        """Asserts pk is answered `value` by the spill (no backend request, a spill hit)."""
        before, m0 = self.proxy.snapshot(), self.d.metrics()
        self.assertEqual(self.get(pk), value)
        self.assertEqual(self.proxy.ops_since(before), {})
        self.assertEqual(self.d.metrics_since(m0)[SPILL_HITS], 1)

    def test_every_write_replaces_the_spilled_value(self):
        k = "k000001"
        v = lambda n: item(k, v=N(str(n)), p=S("x" * 3000))  # noqa: E731
        self.c.put_item(TableName=self.t, Item=v(1))
        self.push_out()
        self.spilled(k, v(1))
        # PutItem on a key in RAM (back from the spill) and in the spill
        self.c.put_item(TableName=self.t, Item=v(2))
        self.assertEqual(self.get(k), v(2))
        self.push_out()
        self.spilled(k, v(2))  # the new value was spilled, not skipped
        # UpdateItem of a key only in the spill
        self.push_out()
        self.c.update_item(TableName=self.t, Key=key(k), UpdateExpression="SET v = :v",
                           ExpressionAttributeValues={":v": N("3")})
        self.assertEqual(self.get(k), v(3))
        # DeleteItem, then PutItem whose answer is lost (moto applied it)
        self.push_out()
        self.c.delete_item(TableName=self.t, Key=key(k))
        self.assertIsNone(self.get(k))
        self.push_out()
        self.spilled(k, None)  # the negative entry was spilled too
        self.proxy.inject("PutItem", "status", status=500, forward=True, once=True, match=k,
                          body={"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                "message": "injected"})
        with self.assertRaises(ClientError):
            client(self.d.endpoint, attempts=1).put_item(TableName=self.t, Item=v(4))
        self.assertEqual(self.get(k), v(4))  # held: read from moto
        time.sleep(1.2)  # the hold-off passed: nothing of the spill's absence survived
        self.assertEqual(self.get(k), v(4))
        # a failed condition: the cached copy may be stale, so it goes, spilled or not
        self.push_out()
        self.spilled(k, v(4))
        self.push_out()
        self.direct.put_item(TableName=self.t, Item=v(5))  # bypasses ddbx
        with self.assertRaises(ClientError):
            self.c.put_item(TableName=self.t, Item=v(6), ConditionExpression="v = :four",
                            ExpressionAttributeValues={":four": N("4")})
        self.assertEqual(self.get(k), v(5))

    def test_a_write_whose_answer_is_held_while_reads_and_evictions_run(self):
        k = "k000002"
        v = lambda n: item(k, v=N(str(n)), p=S("y" * 3000))  # noqa: E731
        self.c.put_item(TableName=self.t, Item=v(1))
        self.push_out()
        # moto applies the write at once; ddbx hears of it only on release
        hold = self.proxy.inject("PutItem", "hold", match=k, once=True)
        result = {}
        writer = threading.Thread(target=lambda: result.setdefault(
            "r", client(self.d.endpoint).put_item(TableName=self.t, Item=v(2))), daemon=True)
        writer.start()
        hold.wait_arrived()
        seen = [self.get(k)]  # overlaps the write: either value
        self.push_out()       # k (back from the spill) leaves RAM again
        seen.append(self.get(k))
        hold.release()
        writer.join(10)
        self.assertIn("r", result)
        for got in seen:
            self.assertIn(got, (v(1), v(2)))
        # acknowledged: never v(1) again, from RAM or from the spill
        for _ in range(3):
            self.assertEqual(self.get(k), v(2))
            self.push_out()
        self.spilled(k, v(2))


class SpillStressTest(test_stress.StressTest):
    """test_stress.py's run with an 8 KiB cache over a spill, and a thread
    writing other items (25 of 600 bytes a request, 20 requests a second). The
    cache evicts by CLOCK: the test's keys, read all the time, would keep a
    second turn at the LRU tail in a cache that holds them all, so the cache
    is smaller than their working set, and the keys keep leaving RAM for the
    spill between reads, at a pace the spill's writer keeps up with on a
    loaded machine (a queue it cannot drain drops puts, and then keys leave
    RAM without reaching the spill)."""

    def ddbx_flags(self):
        spill_dir = tempfile.mkdtemp(prefix="ddbx-it-spill-")
        self.addCleanup(shutil.rmtree, spill_dir, True)
        return super().ddbx_flags() + ("--memory", "8KiB", "--spill-dir", spill_dir)

    def background(self):
        return super().background() + [self.pusher]

    def pusher(self):
        c = client(self.ddbx.endpoint, attempts=1)
        t = "stress_filler"
        create_table(c, t)
        n = 0
        while not self.stop.is_set():
            try:
                c.batch_write_item(RequestItems={t: [
                    {"PutRequest": {"Item": big_item(n + i, size=600)}} for i in range(25)]})
            except Exception:  # noqa: BLE001 (faults are injected on every operation)
                pass
            n += 25
            self.stop.wait(0.05)

    def check_in_play(self, d):
        # the spill answered reads; query pages are not spilled, and an 8 KiB
        # cache churned by the pusher keeps none long enough to be hit
        print("spill: %d hits, %d writes, %d deletes" % (
            d[SPILL_HITS], d["ddbx_spill_writes_total"], d["ddbx_spill_deletes_total"]))
        self.assertGreater(d[SPILL_HITS], 0)


class SpillStreamsTest(SpillTestCase):
    """A warm restart of a table with a stream: its reader reads on from where
    the clean stop left it (no gap: the table's spilled entries stay), and the
    table is read from the backend, uncached, until the reader has applied what
    bypassed ddbx while it was stopped."""

    def streamed_table(self, d, c):
        t = "spill_%s" % self._testMethodName[5:40]
        create_scores(c, t, stream=True)
        d.wait_stream_reading(t)
        return t

    def get(self, c, t, player):
        return c.get_item(TableName=t, Key={"board": S("b1"), "player": S(player)}).get("Item")

    def write_and_stop(self, d, c, t, n):
        items = [{"board": S("b1"), "player": S("p%03d" % i), "score": N(str(i)), "when": N("1")}
                 for i in range(n)]
        self.write_all(c, t, items)
        # the reader applied the records of those writes: its positions are past them
        wait_until(lambda: d.metric("ddbx_stream_records_total") +
                   d.metric("ddbx_stream_records_own_total") >= n, 10, what="the records")
        for it in items:  # cached (then spilled at the stop)
            self.assertEqual(self.get(c, t, it["player"]["S"]), it)
        stops_cleanly(d)
        self.assertRegex(d.log_text(), r"spill: %d entries written from RAM" % n)
        return items

    def test_writes_made_while_stopped_are_applied_before_spilled_entries_serve(self):
        spill_dir = self.new_dir()
        d = self.spill_ddbx(spill_dir)
        c = client(d.endpoint)
        t = self.streamed_table(d, c)
        items = self.write_and_stop(d, c, t, 50)
        # while ddbx is stopped: an update and a delete straight to the table
        self.direct.update_item(TableName=t, Key={"board": S("b1"), "player": S("p001")},
                                UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": N("999")})
        self.direct.delete_item(TableName=t, Key={"board": S("b1"), "player": S("p002")})
        d2 = self.spill_ddbx(spill_dir)
        c2 = client(d2.endpoint)
        # the first reads: the reader has not even started (the table is
        # learnt by them), and the spill holds the old values
        self.assertEqual(self.get(c2, t, "p001")["score"], N("999"))
        self.assertIsNone(self.get(c2, t, "p002"))
        wait_until(lambda: "read up to the present after resuming" in d2.log_text(), 10,
                   what="the reader caught up")
        log = d2.log_text()
        self.assertIn("reading on after the positions kept at the last clean stop", log)
        self.assertNotIn("its cached entries are dropped", log)
        self.assertEqual(d2.metric("ddbx_stream_gaps_total"), 0)
        # the rest of the table is served from the spill: no backend read
        before, m0 = self.proxy.snapshot(), d2.metrics()
        for it in items[3:]:
            self.assertEqual(self.get(c2, t, it["player"]["S"]), it)
        self.assertEqual(self.backend_reads(before), {})
        self.assertEqual(d2.metrics_since(m0)[SPILL_HITS], len(items) - 3)
        self.assertEqual(self.get(c2, t, "p001")["score"], N("999"))
        self.assertIsNone(self.get(c2, t, "p002"))

    def test_positions_serve_one_start_only(self):
        # a clean stop, a start that takes the positions back, a kill -9, a
        # write straight to the table: the next start has no positions, reads
        # from LATEST with a gap, and drops the table's spilled entries
        spill_dir = self.new_dir()
        d = self.spill_ddbx(spill_dir)
        c = client(d.endpoint)
        t = self.streamed_table(d, c)
        self.write_and_stop(d, c, t, 10)
        d2 = self.spill_ddbx(spill_dir, clean=False)
        c2 = client(d2.endpoint)
        self.assertEqual(self.get(c2, t, "p005")["score"], N("5"))
        wait_until(lambda: "read up to the present after resuming" in d2.log_text(), 10,
                   what="the reader caught up")
        self.assertEqual(self.get(c2, t, "p005")["score"], N("5"))  # cached again
        d2.stop(signal.SIGKILL)
        self.direct.update_item(TableName=t, Key={"board": S("b1"), "player": S("p005")},
                                UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": N("555")})
        d3 = self.spill_ddbx(spill_dir)
        c3 = client(d3.endpoint)
        self.assertEqual(self.get(c3, t, "p005")["score"], N("555"))
        wait_until(lambda: d3.metric("ddbx_stream_gaps_total") >= 1, 10, what="the start's gap")
        self.assertEqual(self.get(c3, t, "p005")["score"], N("555"))


if __name__ == "__main__":
    unittest.main()
