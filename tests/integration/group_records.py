#!/usr/bin/env python3
"""group_records.py - numbered records written in order across several VMs'
disks, for the tests that check a replication group's point is one instant
of every member (t_replication_group.sh, t_azblob_replication_group.sh).

  group_records.py write STOP MAX DISK...
      record k is "%015d\\n" % k padded to 512 bytes, written on disk
      k mod n at offset (k / n) * 512 (n: the number of disks), one every
      millisecond, until the file STOP exists or MAX records are written.
  group_records.py check ITEMS MAX VM...
      every multi-vm point of the first VM (ITEMS/<vm>/recovery-points) must
      be on every other VM with the same type, and the records present
      across the VMs' <vm>-os images must be a prefix of the order written
      (disk i of the writer is VM i's); prints one line per fault, then
      "multi M bad B partial P app A": points checked, faults, points taken
      mid-write (a non-empty prefix short of MAX), app-consistent ones.
"""
import os, sys, time


def write(stop, most, disks):
    fds = [os.open(p, os.O_WRONLY) for p in disks]
    n, k = len(fds), 0
    while not os.path.exists(stop) and k < most:
        os.pwrite(fds[k % n], (b"%015d\n" % k).ljust(512, b"r"), (k // n) * 512)
        k += 1
        time.sleep(0.001)
    print("writer wrote", k, "records")


def check(items, most, members):
    def typ(vm, p):
        with open(os.path.join(items, vm, "recovery-points", p, "type")) as f:
            return f.read().strip()

    def present(p):
        have = set()
        for i, vm in enumerate(members):
            with open(os.path.join(items, vm, "recovery-points", p, "disks", vm + "-os"), "rb") as f:
                data = f.read()
            for slot in range(len(data) // 512):
                rec = data[slot * 512:slot * 512 + 16]
                if rec[15:16] == b"\n" and rec[:15].isdigit() and int(rec[:15]) == slot * len(members) + i:
                    have.add(int(rec[:15]))
        return have

    first = os.path.join(items, members[0], "recovery-points")
    pts = sorted(p for p in os.listdir(first) if not p.startswith("latest"))
    multi = bad = partial = app = 0
    for p in pts:
        t = typ(members[0], p)
        if "multi-vm" not in t:
            continue
        multi += 1
        for vm in members[1:]:
            if not os.path.isdir(os.path.join(items, vm, "recovery-points", p)) or typ(vm, p) != t:
                print("point %s: %s has no such multi-vm point" % (p, vm))
                bad += 1
        if t.startswith("app-consistent"):
            app += 1
        have = present(p)
        n = max(have) + 1 if have else 0
        missing = [k for k in range(n) if k not in have]
        if missing:
            print("point %s: record %d present, %d records before it missing (first %d)" %
                  (p, n - 1, len(missing), missing[0]))
            bad += 1
        if n > 0 and not missing and n < most:
            partial += 1
    print("multi", multi, "bad", bad, "partial", partial, "app", app)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "check":
        check(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        sys.exit(__doc__)
