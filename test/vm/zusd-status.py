#!/usr/bin/env python3
# zusd-status.py: one value from the running zusd daemons' control sockets (what `zufs status
# --json` reads), for the guest scripts, which cannot afford a cold node start per sample:
#   zusd-status.py ops MOUNTPOINT   FUSE/zuf requests served on MOUNTPOINT so far, per op (JSON)
#   zusd-status.py nio KEY          the zuf mount's NIO counter KEY (maps, unmaps, unmapErrors, puts, putsStale)
#   zusd-status.py tiers MNT KEY    the t1/t2 counter KEY (storeReads, misses, ...) of the mount on MNT
#                                   (FUSE) or of the zuf mount with -o config=MNT
import glob, json, socket, sys


def mounts():
    for path in glob.glob('/run/zufs/zusd.*.sock'):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(path)
            s.sendall(b'{"cmd":"status"}\n')
            data = b''
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
            yield from json.loads(data)['status']['mounts']
        except Exception:
            pass


what, arg = sys.argv[1], sys.argv[2]
if what == 'ops':
    ops = {}
    for m in mounts():
        if m['mountpoint'] == arg:
            ops = m['stats']['ops']
    print(json.dumps(ops))
elif what == 'nio':
    for m in mounts():
        if m['stats'].get('transport') == 'zuf' and 'nio' in m['stats']:
            print(m['stats']['nio'][arg])
            sys.exit(0)
    print('none')
elif what == 'tiers':
    for m in mounts():
        if arg in (m['mountpoint'], m['url']) and 'tiers' in m:
            print(m['tiers'][sys.argv[3]])
            sys.exit(0)
    print('none')
else:
    sys.exit(f'zusd-status.py: unknown query {what}')
