"""The benchmark's items, exactly as bench/loadgen/workload.c writes them.

The ceiling's canned answers and the memory script's byte accounting must
agree with what the load generator sends, so this mirrors wl_item_json().
"""
import json

ITEM_FIXED_BYTES = 43
PATTERN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
MASK64 = (1 << 64) - 1


def fnv1a64(v):
    h = 0xcbf29ce484222325
    for i in range(8):
        h ^= (v >> (i * 8)) & 0xFF
        h = (h * 0x100000001b3) & MASK64
    return h


def payload_len(item_size):
    return item_size - ITEM_FIXED_BYTES if item_size > ITEM_FIXED_BYTES + 1 else 1


def key(i):
    return "k%09d" % i


def item(i, item_size, boards=100, version=0):
    """The item as a DynamoDB attribute map (dict), in the generator's order."""
    n = payload_len(item_size)
    off = (i + version) % len(PATTERN)
    pat = PATTERN * (n // len(PATTERN) + 2)
    return {
        "pk": {"S": key(i)},
        "board": {"S": "b%04d" % (i % max(boards, 1))},
        "score": {"N": str(fnv1a64(i * 31 + version) % 1000000)},
        "hits": {"N": "0"},
        "payload": {"S": pat[off:off + n]},
    }


def item_json(i, item_size, boards=100, version=0):
    """The item's JSON text as the generator writes it (no spaces)."""
    return json.dumps(item(i, item_size, boards, version), separators=(",", ":"))


def dynamodb_size(attrs):
    """Item size as DynamoDB counts it: attribute names plus values (S and N
    approximated by their text length)."""
    total = 0
    for name, v in attrs.items():
        total += len(name.encode())
        (t, val), = v.items()
        total += len(str(val).encode())
    return total
