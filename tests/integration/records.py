#!/usr/bin/env python3
"""records.py - numbered 4 KiB records on a disk, for the tests that check a
recovery point is one instant of a disk being written (t_tracking.sh,
t_azblob_tracking.sh).

  records.py write PATH STOP ACKED START NP STRIDE [log]
      record n (from START+1 on) is 256 copies of "%015d\\n" % n on page
      STRIDE * perm[n % NP] (perm: a fixed shuffle of NP pages, so the order
      the writer goes through pages is not the order a cycle ships them),
      until the file STOP exists (then on to a multiple of 256); the last
      number whose write returned goes to ACKED after each write with "log",
      and always at the end.
  records.py check IMAGE NP STRIDE [MIN]
      IMAGE's record pages are the disk after exactly record m, m >= MIN;
      prints m, or why not and exits 1.  Records above 1000000 are a second
      writer's: a page it has not reached yet holds the first writer's last
      record there, which that writer's own check covered.
"""
import os, random, sys


def write(path, stop, acked, start, np, stride, log):
    perm = random.Random(42).sample(range(np), np)
    fd = os.open(path, os.O_WRONLY)
    n = start
    def note(v):
        with open(acked + ".tmp", "w") as f:
            f.write("%d\n" % v)
        os.rename(acked + ".tmp", acked)
    try:
        while n % 256 or not os.path.exists(stop):
            os.pwrite(fd, (b"%015d\n" % (n + 1)) * 256, perm[(n + 1) % np] * stride * 4096)
            n += 1
            if log:
                note(n)
    except OSError as e:
        print("writer stopped at", n, e)
    note(n)


def check(image, np, stride, lo):
    perm = random.Random(42).sample(range(np), np)
    pos = {p: i for i, p in enumerate(perm)}
    data = open(image, "rb").read(np * stride * 4096)
    if len(data) != np * stride * 4096:
        print("short image: %d bytes" % len(data)); sys.exit(1)
    recs = []
    for p in range(np):
        pg = data[p * stride * 4096:p * stride * 4096 + 4096]
        if pg == bytes(4096):
            recs.append(0)
            continue
        line = pg[:16]
        if pg != line * 256 or not line[:15].isdigit():
            print("page %d torn" % (p * stride)); sys.exit(1)
        recs.append(int(line[:15]))
    m = max(recs)
    for p in range(np):
        i = pos[p]  # record n lands on page perm[n % np]
        want = m - ((m - i) % np) if m >= i else 0  # the newest such n <= m
        if m > 1000000 and want <= 1000000:
            want = recs[p]
        if recs[p] != want:
            print("page %d holds %d, the disk after record %d holds %d" % (p * stride, recs[p], m, want)); sys.exit(1)
    if m < lo:
        print("image holds records up to %d, acknowledged %d" % (m, lo)); sys.exit(1)
    print(m)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]),
              len(sys.argv) > 8)
    else:
        check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
