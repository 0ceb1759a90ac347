#!/usr/bin/env python3
"""Misbehaving iSCSI initiators, for tests/target/load/load_test.sh.

    misbehave.py --port P --target IQN --seconds S --ready FILE --report FILE
                 [--each N] [--floods N]

Opens, on 127.0.0.1:P, N connections of each kind:

  half-bhs     24 bytes of a login header, then silence (never logs in)
  login-stall  a whole first login request (security stage, transit to the
               operational stage), its answer read, then silence: a login
               that never finishes
  half-pdu     a complete login, then 24 bytes of a SCSI command header,
               then silence: a session stuck mid-PDU
  trickle      a login request sent one byte every 2 s: never silent for
               long, never finished

and --floods connections that log in and send NOP-Outs as fast as they
can, half of them pings (ITT set: each gets a NOP-In back) and half with
ITT 0xffffffff (no answer), reading every answer.  One process, one
thread, one select() loop for all of it: on a 2-core machine the flood
takes about one core, which the well-behaved load then lacks too.

Two more never read what the target sends, so whatever the target does
not hold back piles up in its memory (the test bounds the target's peak
RSS); each stops after a fixed amount, so a target that holds everything
grows by about that much and no more:

  deaf-nop     logs in, sends --deaf-pings NOP-Out pings (each answered by
               a 48-byte NOP-In it never reads)
  deaf-read    logs in, sends --deaf-reads READ(16)s of 1 MiB of LUN 0,
               64 every 0.1 s (in the CmdSN window of a target that
               executes them as they come), and never reads the data

Writes FILE (--ready) once every connection is set up, then runs for S
seconds and writes a JSON report: per kind, when (seconds after setup)
the target closed each connection (null: still open at the end), and for
the floods the NOP-Outs sent and the NOP-Ins received.  Raw sockets and
struct-packed headers only; no packages.
"""
import argparse
import json
import select
import socket
import struct
import time

NO_TAG = 0xFFFFFFFF


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def bhs(opcode, flags, data_len=0, isid=b"\0" * 6, itt=0, word20=0, cmd_sn=0, exp_stat_sn=0,
        tail=b""):
    """A 48-byte Basic Header Segment: opcode (with the I bit), flags,
    DataSegmentLength, bytes 8-15 (ISID+TSIH, or the LUN), ITT, bytes 20-23
    (CID or TTT), CmdSN, ExpStatSN, and bytes 32-47."""
    head = struct.pack(">BBBBB3s8sIIII", opcode, flags, 0, 0, 0, data_len.to_bytes(3, "big"),
                       isid + b"\0\0", itt, word20, cmd_sn, exp_stat_sn)
    return head + tail.ljust(16, b"\0")


def text(keys):
    return b"".join(("%s=%s" % kv).encode() + b"\0" for kv in keys)


def login_request(isid, csg, nsg, keys, transit=True):
    data = text(keys)
    flags = (0x80 if transit else 0) | csg << 2 | nsg
    return bhs(0x43, flags, len(data), isid=isid, itt=1) + pad4(data)


def read_pdu(sock):
    """One PDU (blocking): (header, data)."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    head = exactly(48)
    ahs = head[4] * 4
    dlen = int.from_bytes(head[5:8], "big")
    rest = exactly(ahs + dlen + (-dlen % 4))
    return head, rest[ahs:ahs + dlen]


class Conn:
    def __init__(self, kind, index, port):
        self.kind, self.index = kind, index
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.closed_at = None
        self.isid = bytes([0x80, 0, 0, 0x4D, kind_code(kind), index])
        self.name = "iqn.2026-12.org.offcopy:misbehave-%s-%d" % (kind, index)
        self.sent = self.received = self.pings = 0
        self.inbuf = b""
        self.outbuf = b""
        self.next_itt = 1
        self.trickle = b""
        self.next_batch = 0

    def fileno(self):
        return self.sock.fileno()

    def login(self, target):
        """A whole login in one request: operational stage to full feature."""
        self.sock.sendall(login_request(self.isid, 1, 3, [
            ("InitiatorName", self.name), ("TargetName", target), ("SessionType", "Normal"),
            ("HeaderDigest", "None"), ("DataDigest", "None"),
            ("MaxRecvDataSegmentLength", "262144")]))
        head, _ = read_pdu(self.sock)
        if head[0] & 0x3F != 0x23 or head[36] != 0 or not head[1] & 0x80 or head[1] & 3 != 3:
            raise RuntimeError("%s: login refused (status %02x%02x)" % (self.name, head[36],
                                                                       head[37]))
        self.stat_sn = struct.unpack(">I", head[24:28])[0]
        self.cmd_sn = struct.unpack(">I", head[28:32])[0]

    def nop_batch(self, count):
        """NOP-Outs, all immediate (they take no CmdSN): pings with an ITT
        and, every other one, a bare NOP-Out with ITT 0xffffffff."""
        out = []
        for i in range(count):
            if i % 2:
                itt = NO_TAG
            else:
                itt = self.next_itt
                self.pings += 1
                self.next_itt = self.next_itt + 1 if self.next_itt < 0xFFFFFFFE else 1
            out.append(bhs(0x40, 0x80, itt=itt, word20=NO_TAG, cmd_sn=self.cmd_sn,
                           exp_stat_sn=self.stat_sn + 1))
        self.sent += count
        return b"".join(out)

    def read_batch(self, count, length=1 << 20):
        """READ(16)s of `length` bytes of LUN 0, each taking the next CmdSN."""
        out = []
        for _ in range(count):
            lba = (self.sent * (length // 512)) % (256 << 11)  # within the first 256 MiB
            cdb = struct.pack(">BBQIBB", 0x88, 0, lba, length // 512, 0, 0)
            out.append(bhs(0x01, 0xC0, itt=self.sent + 1, word20=length,
                           cmd_sn=self.cmd_sn + self.sent, exp_stat_sn=self.stat_sn + 1, tail=cdb))
            self.sent += 1
        return b"".join(out)

    def take_input(self, data):
        """Counts the NOP-Ins in what was read."""
        self.inbuf += data
        while len(self.inbuf) >= 48:
            dlen = int.from_bytes(self.inbuf[5:8], "big")
            total = 48 + self.inbuf[4] * 4 + dlen + (-dlen % 4)
            if len(self.inbuf) < total:
                break
            if self.inbuf[0] & 0x3F == 0x20:
                self.received += 1
            self.inbuf = self.inbuf[total:]


def kind_code(kind):
    return ["half-bhs", "login-stall", "half-pdu", "trickle", "flood", "deaf-nop",
            "deaf-read"].index(kind) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--each", type=int, default=4)
    ap.add_argument("--floods", type=int, default=2)
    ap.add_argument("--deaf-pings", type=int, default=4 << 20)
    ap.add_argument("--deaf-reads", type=int, default=768)
    ap.add_argument("--deaf-after", type=float, default=5,
                    help="seconds into the run before the deaf connections start sending")
    a = ap.parse_args()

    conns = []
    for i in range(a.each):
        c = Conn("half-bhs", i, a.port)
        c.sock.sendall(login_request(c.isid, 0, 1, [("InitiatorName", c.name)])[:24])
        conns.append(c)

        c = Conn("login-stall", i, a.port)
        c.sock.sendall(login_request(c.isid, 0, 1, [
            ("InitiatorName", c.name), ("TargetName", a.target), ("SessionType", "Normal"),
            ("AuthMethod", "None")]))
        read_pdu(c.sock)  # its answer; the operational stage never comes
        conns.append(c)

        c = Conn("half-pdu", i, a.port)
        c.login(a.target)
        read_cdb = bytes([0x28]) + b"\0" * 15  # READ(10), whatever: only half of it goes
        c.sock.sendall(bhs(0x01, 0xC0, itt=7, word20=512, cmd_sn=c.cmd_sn,
                           exp_stat_sn=c.stat_sn + 1, tail=read_cdb)[:24])
        conns.append(c)

        c = Conn("trickle", i, a.port)
        c.trickle = login_request(c.isid, 0, 1, [
            ("InitiatorName", c.name), ("TargetName", a.target), ("SessionType", "Normal"),
            ("AuthMethod", "None")])
        conns.append(c)
    floods = []
    for i in range(a.floods):
        c = Conn("flood", i, a.port)
        c.login(a.target)
        floods.append(c)
    conns += floods
    deaf = []
    if a.deaf_pings:
        c = Conn("deaf-nop", 0, a.port)
        c.login(a.target)
        deaf.append(c)
    if a.deaf_reads:
        c = Conn("deaf-read", 0, a.port)
        c.login(a.target)
        deaf.append(c)
    conns += deaf
    for c in conns:
        c.sock.setblocking(False)
    with open(a.ready, "w") as f:
        f.write("ready\n")

    start = time.monotonic()
    next_trickle = start
    while True:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        if now >= next_trickle:  # one byte of each trickled login
            next_trickle = now + 2
            for c in conns:
                if c.kind == "trickle" and c.closed_at is None and c.trickle:
                    try:
                        c.sock.send(c.trickle[:1])
                        c.trickle = c.trickle[1:]
                    except OSError:
                        c.closed_at = now - start
        if now - start >= a.deaf_after:
            for c in deaf:  # the next batch, until each has sent its share
                if c.outbuf or c.closed_at is not None:
                    continue
                if c.kind == "deaf-nop" and c.pings < a.deaf_pings:
                    c.outbuf = c.nop_batch(1024)
                elif c.kind == "deaf-read" and c.sent < a.deaf_reads and now >= c.next_batch:
                    c.outbuf = c.read_batch(min(64, a.deaf_reads - c.sent))
                    c.next_batch = now + 0.1
        open_conns = [c for c in conns if c.closed_at is None and c not in deaf]
        writers = [c for c in floods + deaf if c.closed_at is None and (c.outbuf or c in floods)]
        r, w, _ = select.select(open_conns, writers, [], 0.2)
        for c in r:
            try:
                data = c.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                c.closed_at = time.monotonic() - start
                continue
            c.take_input(data)
        for c in w:
            if c.closed_at is not None:
                continue
            if not c.outbuf and c.kind == "flood":
                c.outbuf = c.nop_batch(512)
            try:
                n = c.sock.send(c.outbuf)
                c.outbuf = c.outbuf[n:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                c.closed_at = time.monotonic() - start

    report = {"seconds": round(time.monotonic() - start, 1), "kinds": {}}
    for c in conns:
        k = report["kinds"].setdefault(c.kind, {"closed_at": []})
        k["closed_at"].append(None if c.closed_at is None else round(c.closed_at, 1))
        if c.kind == "flood":
            k["nop_outs"] = k.get("nop_outs", 0) + c.sent
            k["nop_ins"] = k.get("nop_ins", 0) + c.received
            k["pings"] = k.get("pings", 0) + c.pings
        elif c.kind == "deaf-nop":
            k["pings"] = c.pings
        elif c.kind == "deaf-read":
            k["reads"] = c.sent
        c.sock.close()
    with open(a.report, "w") as f:
        json.dump(report, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
