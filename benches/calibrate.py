#!/usr/bin/env python3
"""Measure CloudTrail record sets for calibrating hsmtrail's archive generator (issue #17).

Each argument is a SPEC naming one record set; every set becomes one column of a Markdown table.

  real:all         every record stats.py extracts from ../shared/realdata (duplicates removed)
  real:delivery    real accounts' S3 delivery content: grycap (691 .json.gz), boogy, cribl,
                   umccr, stevezieglerva, trailscraper (see SOURCES.md)
  real:modern      real 2022-2024 delivery content, eventVersion 1.08 (boogy + cribl): the
                   schema the generator writes
  real:SOURCEDIR   one source folder of realdata (e.g. real:grycap-cloudtrail-tracker)
  dir:PATH[:N]     a generated archive folder: N (default 40) of its CloudTrail .json.gz
                   delivery files, evenly spread over the sorted list (CloudTrail-Digest skipped)

Options: --json OUT (all figures as JSON), --realdata DIR (default $HSMTRAIL_REALDATA, else
../shared/realdata beside the checkout).

    python3 benches/calibrate.py real:delivery real:modern dir:target/bench-data/dense

Record order is kept (files in sorted order, records in file order), so windows and gzip'd
bodies see neighbours as a delivery file would. Windows never span two sources.
"""
import collections
import gzip
import hashlib
import importlib.util
import json
import math
import os
import sys
import zlib

# The real-data folder where the tests look for it (HSMTRAIL_REALDATA, else beside the checkout).
REALDATA = os.environ.get('HSMTRAIL_REALDATA') or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'shared', 'realdata')
WINDOW = 800          # records per delivery-file-shaped body, as the generator writes
SMALL_WINDOW = 200    # a window size every real source of the delivery set can fill
MIN_BODY = 100        # a trailing chunk shorter than this is not gzip'd on its own
NEEDLES = ('cloudhsm', 'CustomKeyStore', 'cloudtrail.amazonaws.com')  # hsmtrail's pre-filter


def load_stats(realdata):
    spec = importlib.util.spec_from_file_location('ctstats', os.path.join(realdata, 'stats.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compact(o):
    return json.dumps(o, separators=(',', ':'), ensure_ascii=False)


# Which files of which sources are real accounts' delivery content (SOURCES.md).
def delivery_file_ok(src, rel):
    if src == 'grycap-cloudtrail-tracker':
        return 'dynamodb_tmp_history' in rel
    if src == 'boogy-CloudTrail-Log-Parser':
        return rel.endswith('examples/cloudtrail.json')
    if src in ('criblpacks-cribl-aws-cloudtrail-logs', 'umccr-cloudtrail-parquet-lambda'):
        return True
    if src in ('stevezieglerva-cloudtrail-log-analytics', 'trailscraper'):
        return rel.endswith('.json.gz')  # the plain .json beside it is the same file
    return False


MODERN = ('boogy-CloudTrail-Log-Parser', 'criblpacks-cribl-aws-cloudtrail-logs')


def real_set(name, realdata):
    """(label, [(source, [records...]) streams], [(raw bytes, gz bytes, records) of .gz files])"""
    st = load_stats(realdata)
    streams = collections.OrderedDict()
    gzfiles = []
    seen = set()
    for src, path, data in st.iter_files(realdata):
        rel = os.path.relpath(path.split('!')[0], realdata)
        if name == 'all':
            ok = True
        elif name == 'delivery':
            ok = delivery_file_ok(src, rel)
        elif name == 'modern':
            ok = src in MODERN and delivery_file_ok(src, rel)
        else:
            ok = src == name
        if not ok:
            continue
        try:
            _fmt, evs = st.parse_bytes(data)
        except Exception:
            continue
        if data[:2] == b'\x1f\x8b' and evs:
            gzfiles.append((len(gzip.decompress(data)), len(data), len(evs)))
        out = streams.setdefault(src, [])
        for e in evs:
            h = hashlib.sha1(compact(e).encode()).digest()
            if h in seen:
                continue
            seen.add(h)
            out.append(e)
    return list(streams.items()), gzfiles


def dir_set(path, n):
    files = []
    for dp, _dn, fns in os.walk(path):
        if 'CloudTrail-Digest' in dp:
            continue
        for fn in fns:
            if fn.endswith('.json.gz') and '_CloudTrail_' in fn:
                files.append(os.path.join(dp, fn))
    files.sort()
    if n and len(files) > n:
        step = len(files) / n
        files = [files[int(i * step)] for i in range(n)]
    streams = []
    gzfiles = []
    for f in files:
        data = open(f, 'rb').read()
        raw = gzip.decompress(data)
        recs = json.loads(raw)['Records']
        gzfiles.append((len(raw), len(data), len(recs)))
        streams.append((os.path.basename(f), recs))  # one stream per file: windows = files
    return streams, gzfiles


def pct(values, p):
    if not values:
        return float('nan')
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def depth(o):
    if isinstance(o, dict):
        return 1 + max((depth(v) for v in o.values()), default=0)
    if isinstance(o, list):
        return 1 + max((depth(v) for v in o), default=0)
    return 0


def get(rec, dotted):
    o = rec
    for part in dotted.split('.'):
        if not isinstance(o, dict):
            return None
        o = o.get(part)
    if o is None or isinstance(o, (dict, list)):
        return None if o is None else compact(o)
    return str(o)


DISTINCT_FIELDS = ['userIdentity.principalId', 'userIdentity.arn', 'userIdentity.accessKeyId',
                   'sourceIPAddress', 'userAgent', 'requestID', 'eventID', 'eventName',
                   'requestParameters']


def windows(streams, size, full_only):
    for _src, recs in streams:
        for i in range(0, len(recs), size):
            w = recs[i:i + size]
            if full_only and len(w) < size:
                continue
            if len(w) >= min(size, MIN_BODY):
                yield w


def distinct_in_windows(streams, size, full_only):
    out = {}
    for f in DISTINCT_FIELDS:
        num = den = 0
        for w in windows(streams, size, full_only):
            vals = [get(r, f) for r in w]
            vals = [v for v in vals if v is not None]
            if vals:
                num += len(set(vals))
                den += len(vals)
        out[f] = num / den if den else float('nan')
    return out


def gzip_bodies(streams, size):
    raw = comp = n = 0
    for w in windows(streams, size, False):
        body = ('{"Records":[' + ','.join(compact(r) for r in w) + ']}').encode()
        raw += len(body)
        comp += len(gzip.compress(body, compresslevel=6, mtime=0))
        n += 1
    return (raw / comp if comp else float('nan')), n


def entropy(counter):
    tot = sum(counter.values())
    return -sum(c / tot * math.log2(c / tot) for c in counter.values() if c)


def measure(streams, gzfiles):
    recs = [r for _s, rs in streams for r in rs]
    n = len(recs)
    sizes = [len(compact(r).encode()) for r in recs]
    keys = [len(r) for r in recs]
    depths = [depth(r) for r in recs]
    m = collections.OrderedDict()
    m['records'] = n
    m['streams (sources or files)'] = len(streams)
    for p in (10, 50, 90, 99):
        m[f'record bytes p{p}'] = pct(sizes, p)
    m['record bytes mean'] = sum(sizes) / n
    m['top-level keys mean'] = sum(keys) / n
    m['top-level keys p90'] = pct(keys, 90)
    m['nesting depth mean'] = sum(depths) / n
    m['nesting depth p90'] = pct(depths, 90)
    m['nesting depth max'] = max(depths)
    dh = collections.Counter(depths)
    m['nesting depth histogram'] = ' '.join(f'{d}:{dh[d] / n:.0%}' for d in sorted(dh))
    has = lambda k: sum(1 for r in recs if r.get(k) is not None) / n
    m['share requestParameters non-null'] = has('requestParameters')
    m['share responseElements non-null'] = has('responseElements')
    rp = [len(compact(r['requestParameters']).encode()) for r in recs if r.get('requestParameters') is not None]
    re_ = [len(compact(r['responseElements']).encode()) for r in recs if r.get('responseElements') is not None]
    ui = [len(compact(r['userIdentity']).encode()) for r in recs if r.get('userIdentity') is not None]
    m['requestParameters bytes p50 (non-null)'] = pct(rp, 50)
    m['requestParameters bytes p90 (non-null)'] = pct(rp, 90)
    m['responseElements bytes p50 (non-null)'] = pct(re_, 50)
    m['responseElements bytes p90 (non-null)'] = pct(re_, 90)
    m['responseElements bytes p99 (non-null)'] = pct(re_, 99)
    m['userIdentity bytes p50'] = pct(ui, 50)
    for k in ('tlsDetails', 'resources', 'errorCode', 'additionalEventData', 'sharedEventID',
              'sessionCredentialFromConsole', 'vpcEndpointId', 'apiVersion'):
        m[f'share with {k}'] = sum(1 for r in recs if k in r) / n
    ro = [r['readOnly'] for r in recs if 'readOnly' in r]
    m['share with readOnly'] = len(ro) / n
    m['readOnly true (of those with it)'] = (sum(1 for v in ro if v is True or v == 'true') / len(ro)) if ro else float('nan')
    # Distinct values: pooled over the whole set, and within windows of 200 and 800 records.
    for f in DISTINCT_FIELDS:
        vals = [get(r, f) for r in recs]
        present = [v for v in vals if v is not None]
        m[f'present {f}'] = len(present) / n
        m[f'distinct/total pooled {f}'] = len(set(present)) / len(present) if present else float('nan')
    for size, full in ((SMALL_WINDOW, False), (WINDOW, True)):
        d = distinct_in_windows(streams, size, full)
        for f in DISTINCT_FIELDS:
            m[f'distinct/total per {size} {f}'] = d[f]
    ut = collections.Counter(str((r.get('userIdentity') or {}).get('type')) for r in recs)
    m['userIdentity.type'] = ', '.join(f'{k} {v / n:.0%}' for k, v in ut.most_common(6))
    ev = collections.Counter(str(r.get('eventVersion')) for r in recs)
    m['eventVersion'] = ', '.join(f'{k} {v / n:.0%}' for k, v in ev.most_common(4))
    es = collections.Counter(str(r.get('eventSource')) for r in recs)
    m['eventSource distinct'] = len(es)
    m['eventSource entropy bits'] = entropy(es)
    m['eventSource top-10'] = ', '.join(f'{k.replace(".amazonaws.com", "")} {v / n:.0%}' for k, v in es.most_common(10))
    m['eventSource top-10 cumulative'] = sum(v for _k, v in es.most_common(10)) / n
    en = collections.Counter(str(r.get('eventName')) for r in recs)
    m['eventName distinct'] = len(en)
    m['eventName entropy bits'] = entropy(en)
    non_hsm = [r for r in recs if r.get('eventSource') != 'cloudhsm.amazonaws.com']
    m['non-CloudHSM records holding a pre-filter needle'] = (
        sum(1 for r in non_hsm if any(x in compact(r) for x in NEEDLES)) / len(non_hsm)) if non_hsm else float('nan')
    # Byte share by top-level key.
    kb = collections.Counter()
    for r in recs:
        for k, v in r.items():
            kb[k] += len(compact(k)) + 1 + len(compact(v).encode()) + 1
    tot = sum(sizes)
    m['bytes by top-level key'] = ', '.join(f'{k} {v / tot:.0%}' for k, v in kb.most_common(8))
    # gzip level 6 of {"Records":[...]} bodies of consecutive records.
    for size in (WINDOW, SMALL_WINDOW):
        ratio, bodies = gzip_bodies(streams, size)
        m[f'gzip ratio, {size}-record bodies'] = ratio
        m[f'gzip bodies of {size} (count)'] = bodies
    if gzfiles:
        raw = sum(g[0] for g in gzfiles)
        comp = sum(g[1] for g in gzfiles)
        m['existing .json.gz files'] = len(gzfiles)
        m['existing .json.gz ratio (sum raw / sum gz)'] = raw / comp
        m['existing .json.gz ratio median per file'] = pct([g[0] / g[1] for g in gzfiles], 50)
        m['existing .json.gz records per file median'] = pct([g[2] for g in gzfiles], 50)
        big = [g for g in gzfiles if g[2] >= 50]
        if big:
            m['existing .json.gz ratio, files of >= 50 records'] = sum(g[0] for g in big) / sum(g[1] for g in big)
            m['existing .json.gz files of >= 50 records'] = len(big)
    return m


def fmt(v):
    if isinstance(v, float):
        if math.isnan(v):
            return '-'
        if abs(v) < 1.0 and v != 0:
            return f'{v:.3f}'
        if v >= 100:
            return f'{v:,.0f}'
        return f'{v:.2f}'
    if isinstance(v, int):
        return f'{v:,}'
    return str(v)


def main():
    args = sys.argv[1:]
    out_json = None
    realdata = REALDATA
    if '--json' in args:
        i = args.index('--json')
        out_json = args[i + 1]
        del args[i:i + 2]
    if '--realdata' in args:
        i = args.index('--realdata')
        realdata = args[i + 1]
        del args[i:i + 2]
    cols = collections.OrderedDict()
    for spec in args:
        if spec.startswith('real:'):
            streams, gzf = real_set(spec[5:], realdata)
        elif spec.startswith('dir:'):
            rest = spec[4:]
            n = 40
            if ':' in rest and rest.rsplit(':', 1)[1].isdigit():
                rest, n = rest.rsplit(':', 1)
                n = int(n)
            streams, gzf = dir_set(rest, n)
        else:
            sys.exit(f'unknown spec {spec}')
        cols[spec] = measure(streams, gzf)
        print(f'measured {spec}: {cols[spec]["records"]} records', file=sys.stderr)
    names = list(dict.fromkeys(k for m in cols.values() for k in m))
    print('| metric | ' + ' | '.join(cols) + ' |')
    print('|---|' + '---|' * len(cols))
    for k in names:
        print(f'| {k} | ' + ' | '.join(fmt(m.get(k, float('nan'))) for m in cols.values()) + ' |')
    if out_json:
        with open(out_json, 'w') as fh:
            json.dump(cols, fh, indent=1, default=str)


if __name__ == '__main__':
    main()
