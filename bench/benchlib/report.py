"""Aggregates measured runs and writes the Markdown report and gnuplot plots."""
import os
import statistics
import subprocess

PCTS = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999)]


def merge_hist(runs):
    """Adds the runs' histograms bucket by bucket (same boundaries)."""
    acc = {}
    for r in runs:
        for lo, hi, n in r["histogram_us"]:
            acc[(lo, hi)] = acc.get((lo, hi), 0) + n
    return sorted((lo, hi, n) for (lo, hi), n in acc.items())


def quantile(hist, q):
    total = sum(n for _, _, n in hist)
    if not total:
        return None
    rank = min(int(q * total), total - 1)
    seen = 0
    for lo, hi, n in hist:
        seen += n
        if seen > rank:
            return (lo + hi) / 2
    return hist[-1][1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(runs):
    """One row per target: medians over rounds, latency from merged histograms."""
    rows = {}
    for name in dict.fromkeys(r["target"] for r in runs):
        every = [r for r in runs if r["target"] == name]
        clean = [r for r in every if not r.get("noisy") and not r.get("behind")]
        rs = clean or every
        h = merge_hist(rs)
        reqs = sum(r["requests"] for r in rs)
        row = {
            "target": name, "rounds": len(every), "used": len(rs), "requests": reqs,
            "throughput": median([r["throughput"] for r in rs]),
            "throughput_min": min(r["throughput"] for r in rs),
            "throughput_max": max(r["throughput"] for r in rs),
            "keys_per_s": median([r["keys_per_s"] for r in rs]),
            "errors": sum(r["errors"]["http"] + r["errors"]["connection"] + r["errors"]["parse"] for r in rs),
            "unprocessed": sum(r["errors"]["unprocessed"] for r in rs),
            "server_cpu_us_per_req": sum(r["server_cpu_s"] for r in rs) * 1e6 / reqs if reqs else None,
            "stack_cpu_us_per_req": sum(r["server_cpu_s"] + r["backend_cpu_s"] for r in rs) * 1e6 / reqs
            if reqs else None,
            "server_cpu_util": median([r["server_cpu_util"] for r in rs]),
            "generator_cpu_util": median([r["generator_cpu_util"] for r in rs]),
            "foreign_cpu_util": median([r.get("foreign_cpu_util") for r in rs]),
            "peak_rss_mib": max(r["peak_rss_kib"] for r in rs) / 1024,
            "max_backlog": max(r.get("max_backlog", 0) for r in rs),
            "send_lag_p99": max(r.get("send_lag_us", {}).get("p99", 0) for r in rs),
            "hist": h,
            "first_error": next((r["first_error"] for r in rs if r["first_error"]), ""),
            "get_empty": sum(r["get_empty"] for r in rs),
        }
        for k, q in PCTS:
            row[k] = quantile(h, q)
        n = sum(r["latency_us"]["count"] for r in rs)
        row["mean"] = sum(r["latency_us"]["mean"] * r["latency_us"]["count"] for r in rs) / n if n else None
        caches = [r["cache"] for r in rs if "cache" in r]
        if caches:
            creq = sum(c["requests"] for c in caches)
            cback = sum(c["backend_requests"] for c in caches)
            row["ddbx_requests"] = creq
            row["backend_requests"] = cback
            row["backend_saved"] = creq - cback
            row["backend_per_request"] = cback / creq if creq else None
            row["cache_metrics"] = sorted({n for c in caches for n in c["cache_metrics"]})
            if any("spill_hits" in c for c in caches):
                row["spill_hits"] = sum(c.get("spill_hits", 0) for c in caches)
            if any("hit_ratio" in c for c in caches):
                hits = sum(c.get("hits", 0) for c in caches)
                looked = hits + sum(c.get("misses", 0) for c in caches)
                row["hit_ratio"] = hits / looked if looked else None
        rows[name] = row
    return rows


def fmt(v, digits=0, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float) and digits == 0 and abs(v) < 10:
        digits = 2 if abs(v) < 1 else 1
    return f"{v:,.{digits}f}{unit}"


def ratio(a, b):
    return a / b if a is not None and b else None


def target_table(rows, batch_keys=False):
    head = ["target", "rounds used", "req/s (median; min–max)"]
    if batch_keys:
        head.append("items/s")
    head += ["p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "server CPU µs/req", "+backend CPU µs/req",
             "server CPU use", "peak RSS MiB", "errors", "hit ratio", "backend calls/req", "generator CPU",
             "other CPU"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows.values():
        cells = [r["target"], f"{r['used']}/{r['rounds']}",
                 f"{fmt(r['throughput'])} ({fmt(r['throughput_min'])}–{fmt(r['throughput_max'])})"]
        if batch_keys:
            cells.append(fmt(r["keys_per_s"]))
        cells += [fmt(r[k], 1) for k, _ in PCTS]
        cells += [fmt(r["server_cpu_us_per_req"], 1),
                  fmt(r["stack_cpu_us_per_req"], 1) if "ddbx_requests" in r else "",
                  fmt(r["server_cpu_util"] * 100, 0, "%"), fmt(r["peak_rss_mib"], 1),
                  str(r["errors"]) + (f" (+{r['unprocessed']} unprocessed)" if r["unprocessed"] else ""),
                  fmt(r.get("hit_ratio"), 3) if "ddbx_requests" in r else "",
                  fmt(r.get("backend_per_request"), 3) if "ddbx_requests" in r else "",
                  fmt(r["generator_cpu_util"] * 100, 0, "%"),
                  fmt((r["foreign_cpu_util"] or 0) * 100, 0, "%")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def runs_table(runs):
    head = ["round", "target", "label", "flag", "req/s", "items/s", "p50 µs", "p99 µs", "p99.9 µs", "server CPU µs/req",
            "peak RSS MiB", "errors", "backend calls", "other CPU"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        lat = r["latency_us"]
        errs = r["errors"]["http"] + r["errors"]["connection"] + r["errors"]["parse"]
        out.append("| " + " | ".join([
            str(r.get("round", "")), r["target"], r["label"],
            " ".join(f for f, on in (("noisy", r.get("noisy")), ("behind", r.get("behind"))) if on),
            fmt(r["throughput"]), fmt(r["keys_per_s"]),
            fmt(lat["p50"], 1), fmt(lat["p99"], 1), fmt(lat["p99.9"], 1), fmt(r["server_cpu_us_per_req"], 1),
            fmt(r["peak_rss_kib"] / 1024, 1), str(errs),
            fmt(r["cache"]["backend_requests"]) if "cache" in r else "",
            fmt(r.get("foreign_cpu_util", 0) * 100, 0, "%")]) + " |")
    return "\n".join(out)


# ---- plots ---------------------------------------------------------------------------------------

def _gnuplot(path_png, title, settings, plots, cwd):
    """Renders plots (gnuplot plot clauses) to a PNG with the given axis settings."""
    script = (f"set terminal pngcairo size 900,540 font ',10'\nset output '{path_png}'\nset title '{title}'\n"
              f"set grid\n{settings}\nplot {', '.join(plots)}\n")
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, cwd=cwd, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"gnuplot failed: {getattr(e, 'stderr', e)}")
        return False


def plot_latency(rows, path_png, tmp, title):
    """Percentile spectrum per target (HdrHistogram style): x is 1/(1-q) on a
    log axis, so p50, p90, p99, p99.9 are evenly spaced."""
    plots = []
    for i, r in enumerate(rows.values()):
        total = sum(n for _, _, n in r["hist"])
        if not total:
            continue
        dat = os.path.join(tmp, f"lat-{i}.dat")
        with open(dat, "w") as f:
            seen = 0
            for lo, hi, n in r["hist"]:
                seen += n
                q = seen / total
                if q >= 0.99999:
                    q = 0.99999
                f.write(f"{1 / (1 - q) if q < 1 else 1e5:.6f} {(lo + hi) / 2:.3f}\n")
                if seen == total:
                    break
        plots.append(f"'{dat}' using 1:2 with steps lw 2 title '{r['target']}'")
    if not plots:
        return False
    settings = """set logscale x
set logscale y
set xrange [1:100000]
set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set xlabel 'percentile'
set ylabel 'latency (µs)'
set key top left"""
    return _gnuplot(path_png, title, settings, plots, tmp)


def plot_sweep(sweep, path_png, tmp, title, field="throughput", ylabel="requests/s"):
    """sweep: {target: [(connections, value), ...]}"""
    plots = []
    for i, (name, pts) in enumerate(sweep.items()):
        dat = os.path.join(tmp, f"sweep-{field}-{i}.dat")
        with open(dat, "w") as f:
            for c, v in sorted(pts):
                f.write(f"{c} {v}\n")
        plots.append(f"'{dat}' using 1:2 with linespoints lw 2 pt 7 title '{name}'")
    settings = f"set logscale x 2\nset logscale y\nset xlabel 'connections'\nset ylabel '{ylabel}'\nset key outside right"
    return _gnuplot(path_png, title, settings, plots, tmp)
