#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/: realistic
inputs in each target's input format (the comment at the top of each
fuzz/*.cc), from which libFuzzer's mutations start.

    fuzz/make_corpus.py [OUT_DIR]      (default: fuzz/corpus beside this file)

Each seed is a small file named for what it does; running this again
rewrites them byte for byte (no randomness).  The CHAP seeds answer the
fixed challenge of the fuzz build (target/iscsi/chap.cc under
FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: CHAP_I 90, 32 bytes of 0x5a).
"""
import hashlib
import os
import struct
import sys

# --- iSCSI PDUs (RFC 7143) -------------------------------------------------

INITIATOR = "iqn.1994-05.com.redhat:fuzz"
OPEN = "iqn.2026-12.org.offcopy:open"
CHAP = "iqn.2026-12.org.offcopy:chap"
CHAP_USER, CHAP_SECRET = "fuzz-user", "fuzz-secret-1234"
CHAP_ID, CHAP_CHALLENGE = 0x5A, bytes([0x5A]) * 32  # the fuzz build's fixed challenge
ISID = bytes([0x00, 0x02, 0x3D, 0x00, 0x00, 0x07])
NO_TAG = 0xFFFFFFFF


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def text(pairs):
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def pdu(bhs, data=b"", header_digest=False, data_digest=False):
    """A PDU on the wire: `bhs` (48 bytes) with its DataSegmentLength set."""
    bhs = bytearray(bhs)
    bhs[5:8] = len(data).to_bytes(3, "big")
    out = bytes(bhs)
    if header_digest:
        out += struct.pack("<I", crc32c(out))
    if data:
        padded = data + b"\0" * (-len(data) % 4)
        out += padded
        if data_digest:
            out += struct.pack("<I", crc32c(padded))
    return out


def bhs(opcode, flags, itt, immediate=False):
    b = bytearray(48)
    b[0] = opcode | (0x40 if immediate else 0)
    b[1] = flags
    b[16:20] = itt.to_bytes(4, "big")
    return b


def put32(b, at, v):
    b[at:at + 4] = (v & 0xFFFFFFFF).to_bytes(4, "big")


class Initiator:
    """Builds one connection's PDUs, keeping ITT and CmdSN as an initiator does."""

    def __init__(self, digests=(False, False)):
        self.itt, self.cmd_sn, self.exp_stat_sn = 0x10, 0x100, 0
        self.digests = (False, False)  # during login: none
        self.after_login = digests

    def _next_itt(self):
        self.itt += 1
        return self.itt - 1

    def _wire(self, b, data=b""):
        return pdu(b, data, *self.digests)

    def login(self, csg, nsg, pairs, transit=True, more=False, itt=None):
        """A Login Request; `pairs` may be text already (bytes)."""
        b = bhs(0x03, (0x80 if transit else 0) | (0x40 if more else 0) | csg << 2 |
                (nsg if transit else 0), self.itt if itt is None else itt, immediate=True)
        b[8:14] = ISID
        put32(b, 24, self.cmd_sn)
        put32(b, 28, self.exp_stat_sn)
        self.exp_stat_sn += 1
        return self._wire(b, pairs if isinstance(pairs, bytes) else text(pairs))

    def full_feature(self):
        """The login is over: the digests it settled are on from here."""
        self.digests = self.after_login
        self.itt += 1

    def command(self, cdb, edtl, read=False, write=False, lun=0, data=b"", immediate=False,
                itt=None):
        itt = self._next_itt() if itt is None else itt
        b = bhs(0x01, 0x80 | (0x40 if read else 0) | (0x20 if write else 0) | 0x01, itt, immediate)
        b[9] = lun
        put32(b, 20, edtl)
        put32(b, 24, self.cmd_sn)
        if not immediate:
            self.cmd_sn += 1
        put32(b, 28, self.exp_stat_sn)
        b[32:32 + len(cdb)] = cdb
        return self._wire(b, data), itt

    def data_out(self, itt, ttt, data_sn, offset, data, final=True, lun=0):
        b = bhs(0x05, 0x80 if final else 0, itt)
        b[9] = lun
        put32(b, 20, ttt)
        put32(b, 28, self.exp_stat_sn)
        put32(b, 36, data_sn)
        put32(b, 40, offset)
        return self._wire(b, data)

    def nop_out(self, itt, ttt=NO_TAG, data=b""):
        b = bhs(0x00, 0x80, itt, immediate=True)
        put32(b, 20, ttt)
        put32(b, 24, self.cmd_sn)
        put32(b, 28, self.exp_stat_sn)
        return self._wire(b, data)

    def tmf(self, function, lun=0, ref_itt=NO_TAG, ref_cmd_sn=0):
        b = bhs(0x02, 0x80 | function, self._next_itt(), immediate=True)
        b[9] = lun
        put32(b, 20, ref_itt)
        put32(b, 24, self.cmd_sn)
        put32(b, 28, self.exp_stat_sn)
        put32(b, 32, ref_cmd_sn)
        return self._wire(b)

    def text_request(self, pairs, ttt=NO_TAG, itt=None, final=True):
        b = bhs(0x04, 0x80 if final else 0x40, self._next_itt() if itt is None else itt, True)
        put32(b, 20, ttt)
        put32(b, 24, self.cmd_sn)
        put32(b, 28, self.exp_stat_sn)
        return self._wire(b, text(pairs))

    def logout(self, reason=0):
        b = bhs(0x06, 0x80 | reason, self._next_itt(), immediate=True)
        put32(b, 24, self.cmd_sn)
        put32(b, 28, self.exp_stat_sn)
        return self._wire(b)


def security(target, auth="None", session="Normal"):
    pairs = [("InitiatorName", INITIATOR), ("InitiatorAlias", "fuzz"), ("SessionType", session)]
    if session == "Normal":
        pairs.append(("TargetName", target))
    return pairs + [("AuthMethod", auth)]


def operational(header="None", data="None", initial_r2t="No", immediate="Yes"):
    return [("HeaderDigest", header), ("DataDigest", data),
            ("MaxRecvDataSegmentLength", "8192"), ("ImmediateData", immediate),
            ("InitialR2T", initial_r2t), ("FirstBurstLength", "4096"),
            ("MaxBurstLength", "8192"), ("MaxOutstandingR2T", "2"), ("ErrorRecoveryLevel", "0"),
            ("DefaultTime2Wait", "2"), ("DefaultTime2Retain", "0"), ("IFMarker", "No"),
            ("OFMarker", "No"), ("MaxConnections", "1"), ("DataPDUInOrder", "Yes"),
            ("DataSequenceInOrder", "Yes")]


def login_open(ini, **op):
    """Security, then operational to the full feature phase, on the open target."""
    pdus = [ini.login(0, 1, security(OPEN)), ini.login(1, 3, operational(**op))]
    ini.full_feature()
    return pdus


def login_chap(ini, mutual=False, challenge=bytes(range(1, 33))):
    pdus = [ini.login(0, 1, security(CHAP, "CHAP,None"), transit=False),
            ini.login(0, 1, [("CHAP_A", "7,5")], transit=False)]
    # The target takes SHA-256 (7), the first of the list it computes.
    r = hashlib.sha256(bytes([CHAP_ID]) + CHAP_SECRET.encode() + CHAP_CHALLENGE).hexdigest()
    answer = [("CHAP_N", CHAP_USER), ("CHAP_R", "0x" + r)]
    if mutual:
        answer += [("CHAP_I", "7"), ("CHAP_C", "0x" + challenge.hex())]
    pdus.append(ini.login(0, 1, answer))
    pdus.append(ini.login(1, 3, operational()))
    ini.full_feature()
    return pdus


def cdb10(op, lba, blocks, flags=0):
    return bytes([op, flags]) + lba.to_bytes(4, "big") + bytes([0]) + blocks.to_bytes(2, "big") \
        + bytes([0])


def conn_input(records, options=0):
    """fuzz_iscsi_connection's format: options, then [flags][len][bytes] records."""
    out = bytes([options])
    for flags, data in records:
        out += bytes([flags]) + len(data).to_bytes(2, "big") + data
    return out


WAIT = 0x02  # record flag: wait for the I/O in flight after the bytes


def connection_seeds():
    seeds = {}
    pattern = bytes(range(256)) * 32

    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    tur, _ = ini.command(bytes(6), 0)
    inquiry, _ = ini.command(bytes([0x12, 0, 0, 0, 96, 0]), 96, read=True)
    rc, _ = ini.command(bytes([0x25]) + bytes(9), 8, read=True)
    read, _ = ini.command(cdb10(0x28, 0, 8), 4096, read=True)
    recs += [(0, tur), (0, inquiry), (0, rc), (WAIT, read), (WAIT, ini.logout())]
    seeds["login-open-inquiry-read-logout"] = conn_input(recs)

    # WRITE(10) of 16 blocks: 1 KiB immediate, unsolicited Data-Out to the
    # first burst (4 KiB), then two R2Ts (TTT 1 and 2) for the rest.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    write, itt = ini.command(cdb10(0x2A, 8, 16), 8192, write=True, data=pattern[:1024])
    recs += [(0, write), (0, ini.data_out(itt, NO_TAG, 0, 1024, pattern[1024:4096]))]
    recs += [(0, ini.data_out(itt, 1, 0, 4096, pattern[4096:8192]))]
    read, _ = ini.command(cdb10(0x28, 8, 16), 8192, read=True)
    recs += [(WAIT, read)]
    seeds["write10-immediate-unsolicited-r2t"] = conn_input(recs)

    # InitialR2T=Yes, ImmediateData=No: every byte solicited.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini, initial_r2t="Yes", immediate="No")]
    write, itt = ini.command(cdb10(0x2A, 0, 4), 2048, write=True)
    recs += [(0, write), (WAIT, ini.data_out(itt, 1, 0, 0, pattern[:2048]))]
    seeds["write10-initial-r2t"] = conn_input(recs, options=0x03)

    # Digests on both ways after login.
    ini = Initiator(digests=(True, True))
    recs = [(0, p) for p in login_open(ini, header="CRC32C", data="CRC32C")]
    write, itt = ini.command(cdb10(0x2A, 0, 1), 512, write=True, data=pattern[:512])
    read, _ = ini.command(cdb10(0x28, 0, 1), 512, read=True)
    recs += [(WAIT, write), (WAIT, read), (0, ini.nop_out(0x77, data=b"ping"))]
    seeds["digests-crc32c"] = conn_input(recs)

    # Discovery: SendTargets=All, then logout.
    ini = Initiator()
    recs = [(0, ini.login(0, 3, security(None, session="Discovery")))]
    ini.full_feature()
    recs += [(0, ini.text_request([("SendTargets", "All")])), (0, ini.logout())]
    seeds["discovery-sendtargets"] = conn_input(recs)

    # A normal session's SendTargets (its own target), then a key not understood.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    recs += [(0, ini.text_request([("SendTargets", ""), ("X-Vendor", "1")]))]
    seeds["normal-sendtargets"] = conn_input(recs)

    # CHAP (SHA-256) to the CHAP target, then a write and a read of 4 KiB blocks.
    ini = Initiator()
    recs = [(0, p) for p in login_chap(ini)]
    write, _ = ini.command(cdb10(0x2A, 1, 1, flags=0x08), 4096, write=True, data=pattern[:4096])
    read, _ = ini.command(cdb10(0x28, 1, 1), 4096, read=True)
    recs += [(WAIT, write), (WAIT, read)]
    seeds["chap-write-read"] = conn_input(recs)

    ini = Initiator()
    seeds["chap-mutual"] = conn_input([(0, p) for p in login_chap(ini, mutual=True)])
    ini = Initiator()
    seeds["chap-mutual-reflected"] = conn_input(
        [(0, p) for p in login_chap(ini, mutual=True, challenge=CHAP_CHALLENGE)])

    # Task management: a WRITE waiting for its data is aborted; then
    # ABORT TASK SET, LUN RESET, TARGET WARM RESET.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini, initial_r2t="Yes")]
    write, itt = ini.command(cdb10(0x2A, 0, 16), 8192, write=True)
    recs += [(0, write), (0, ini.tmf(1, ref_itt=itt, ref_cmd_sn=ini.cmd_sn - 1))]
    write, _ = ini.command(cdb10(0x2A, 0, 16), 8192, write=True)
    recs += [(0, write), (0, ini.tmf(2)), (0, ini.tmf(5)), (0, ini.tmf(6))]
    tur, _ = ini.command(bytes(6), 0)
    recs += [(WAIT, tur)]
    seeds["tmf-abort-reset"] = conn_input(recs, options=0x01)

    # A READ of 128 KiB runs on the I/O pool (past what a unit tries at
    # once); ABORT TASK comes before its completion has run, so its
    # response waits for it.  Then CLEAR ACA and TASK REASSIGN (not supported).
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    read, itt = ini.command(cdb10(0x28, 0, 256), 131072, read=True)
    abort = ini.tmf(1, ref_itt=itt, ref_cmd_sn=ini.cmd_sn - 1)
    recs += [(WAIT, read + abort), (0, ini.tmf(3) + ini.tmf(8))]
    seeds["tmf-abort-running-read"] = conn_input(recs)

    # Two sessions: the first resets LUN 0, the second sees the unit attention.
    a, b = Initiator(), Initiator()
    recs = [(0, p) for p in login_open(a)] + [(1, p) for p in login_open(b)]
    # A unit tells a nexus it has seen: the second session's first TUR.
    first_b, _ = b.command(bytes(6), 0)
    tur_b, _ = b.command(bytes(6), 0)
    sense, _ = b.command(bytes([0x03, 0, 0, 0, 18, 0]), 18, read=True)
    recs += [(1, first_b), (0, a.tmf(5)), (1 | WAIT, tur_b), (1 | WAIT, sense)]
    seeds["two-sessions-lun-reset"] = conn_input(recs)

    # NOP: a ping answered; time passes and the target pings (TTT 1),
    # the initiator answers it.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    recs += [(0, ini.nop_out(0x99, data=b"hello")), (0x04, b""), (0, ini.nop_out(NO_TAG, 1))]
    seeds["nop-ping-both-ways"] = conn_input(recs)

    # The same login, its bytes in pieces of 7, then a command split across records.
    ini = Initiator()
    recs = [(0x40, p) for p in login_open(ini)]
    read, _ = ini.command(cdb10(0x28, 0, 1), 512, read=True)
    recs += [(0, read[:20]), (WAIT, read[20:])]
    seeds["split-pieces"] = conn_input(recs)

    # Login text continued with the C bit: the keys cut after 30 bytes.
    ini = Initiator()
    keys = text(security(OPEN))
    recs = [(0, ini.login(0, 1, keys[:30], transit=False, more=True)),
            (0, ini.login(0, 1, keys[30:])), (0, ini.login(1, 3, operational()))]
    seeds["login-continued"] = conn_input(recs)

    # Commands past the window and a reused tag; a SNACK (rejected); an
    # unknown opcode; a PDU before login on the second connection.
    ini = Initiator()
    recs = [(0, p) for p in login_open(ini)]
    tur, itt = ini.command(bytes(6), 0)
    again, _ = ini.command(bytes(6), 0, itt=itt)
    far = bytearray(ini.command(bytes(6), 0)[0])
    put32(far, 24, ini.cmd_sn + 1000)
    snack = pdu(bhs(0x10, 0x80, 0x55))
    recs += [(0, tur + again), (0, bytes(far)), (0, snack), (0, pdu(bhs(0x1C, 0x80, 0x56)))]
    recs += [(1, tur)]
    seeds["malformed-mix"] = conn_input(recs)

    # A login refused: an initiator outside the CHAP target's ACL.
    ini = Initiator()
    bad = [("InitiatorName", "iqn.2000-01.com.example:stranger"), ("SessionType", "Normal"),
           ("TargetName", CHAP), ("AuthMethod", "CHAP")]
    seeds["login-acl-refused"] = conn_input([(0, ini.login(0, 1, bad))])
    return seeds


def pdu_seeds(connection):
    """fuzz_iscsi_pdu's format: one setup byte, then the bytes.  The login
    PDUs of the connection seeds, as one stream."""
    def stream(name):
        out, rest = b"", connection[name][1:]
        while rest:
            n = int.from_bytes(rest[1:3], "big")
            out, rest = out + rest[3:3 + n], rest[3 + n:]
        return out

    seeds = {}
    for name in ("login-open-inquiry-read-logout", "chap-mutual", "discovery-sendtargets",
                 "login-continued", "login-acl-refused"):
        seeds[name] = bytes([0]) + stream(name)
    seeds["pieces-of-5"] = bytes([0x50]) + stream("chap-write-read")
    ini = Initiator()
    ini.digests = (True, True)
    seeds["digests-text"] = bytes([0x03]) + ini.text_request([("SendTargets", "All")])
    return seeds


# --- CDBs (SPC-4, SBC-3) -----------------------------------------------------

def cdb_record(cdb, data=b"", who=0, where=0, limit=255):
    """fuzz_scsi_cdb's format: [who][where][limit][CDB][data-out length][data-out]."""
    return bytes([who, where, limit]) + bytes(cdb) + len(data).to_bytes(2, "big") + data


def cdb16(op, lba, blocks, flags=0):
    return bytes([op, flags]) + lba.to_bytes(8, "big") + blocks.to_bytes(4, "big") + bytes(2)


def cdb12(op, lba, blocks, flags=0):
    return bytes([op, flags]) + lba.to_bytes(4, "big") + blocks.to_bytes(4, "big") + bytes(2)


def unmap_list(ranges):
    body = b"".join(lba.to_bytes(8, "big") + n.to_bytes(4, "big") + bytes(4) for lba, n in ranges)
    return (len(body) + 6).to_bytes(2, "big") + len(body).to_bytes(2, "big") + bytes(4) + body


def cdb_seeds():
    block = bytes(range(256)) * 2  # one 512-byte block
    s = {}
    # One per operation code of target/scsi/commands.cc's table (and
    # the service actions of 9Eh and A3h).
    s["00-test-unit-ready"] = cdb_record(bytes(6))
    s["03-request-sense"] = cdb_record([0x03, 0, 0, 0, 252, 0])
    s["08-read6"] = cdb_record([0x08, 0, 0, 1, 2, 0])
    s["0a-write6"] = cdb_record([0x0A, 0, 0, 1, 1, 0], block)
    s["12-inquiry"] = cdb_record([0x12, 0, 0, 0, 96, 0])
    s["12-inquiry-vpd-b0"] = cdb_record([0x12, 1, 0xB0, 0, 64, 0])
    # MODE SELECT (6) of the caching page as MODE SENSE gives it (WCE set).
    caching = bytes([0x08, 0x12, 0x04]) + bytes(17)
    s["15-mode-select6"] = cdb_record([0x15, 0x10, 0, 0, 4 + len(caching), 0],
                                      bytes(4) + caching)
    s["1a-mode-sense6"] = cdb_record([0x1A, 0, 0x3F, 0, 252, 0])
    s["1b-start-stop-unit"] = cdb_record([0x1B, 0, 0, 0, 0, 0])
    s["1e-prevent-allow"] = cdb_record([0x1E, 0, 0, 0, 1, 0])
    s["25-read-capacity10"] = cdb_record(bytes([0x25]) + bytes(9))
    s["28-read10"] = cdb_record(cdb10(0x28, 0, 4))
    s["2a-write10-fua"] = cdb_record(cdb10(0x2A, 4, 1, 0x08), block)
    s["2e-write-and-verify10"] = cdb_record(cdb10(0x2E, 8, 1, 0x02), block)
    s["2f-verify10-bytchk"] = cdb_record(cdb10(0x2F, 8, 1, 0x02), bytes(512))
    s["34-prefetch10"] = cdb_record(cdb10(0x34, 0, 16))
    s["35-synchronize-cache10"] = cdb_record(cdb10(0x35, 0, 0))
    s["37-read-defect-data10"] = cdb_record([0x37, 0, 0x08, 0, 0, 0, 0, 0, 64, 0])
    s["41-write-same10"] = cdb_record(cdb10(0x41, 16, 8), block)
    s["42-unmap"] = cdb_record([0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0], unmap_list([(0, 8), (64, 8)]))
    s["55-mode-select10"] = cdb_record([0x55, 0x10, 0, 0, 0, 0, 0, 0, 8 + len(caching), 0],
                                       bytes(8) + caching)
    s["5a-mode-sense10"] = cdb_record([0x5A, 0, 0x08, 0, 0, 0, 0, 0x01, 0, 0])
    s["88-read16"] = cdb_record(cdb16(0x88, 100, 2))
    s["89-compare-and-write"] = cdb_record(
        bytes([0x89, 0]) + (8).to_bytes(8, "big") + bytes([0, 0, 0, 1, 0, 0]),
        bytes(512) + block)
    s["8a-write16"] = cdb_record(cdb16(0x8A, 100, 1), block)
    s["8b-orwrite16"] = cdb_record(cdb16(0x8B, 100, 1), block)
    s["8e-write-and-verify16"] = cdb_record(cdb16(0x8E, 100, 1, 0x02), block)
    s["8f-verify16"] = cdb_record(cdb16(0x8F, 100, 4))
    s["90-prefetch16"] = cdb_record(cdb16(0x90, 0, 8))
    s["91-synchronize-cache16"] = cdb_record(cdb16(0x91, 0, 0))
    s["93-write-same16-unmap"] = cdb_record(cdb16(0x93, 0, 32, 0x08), block)
    s["9e10-read-capacity16"] = cdb_record(bytes([0x9E, 0x10]) + bytes(8) +
                                           (32).to_bytes(4, "big") + bytes(2))
    s["9e12-get-lba-status"] = cdb_record(bytes([0x9E, 0x12]) + bytes(8) +
                                          (4096).to_bytes(4, "big") + bytes(2))
    s["a0-report-luns"] = cdb_record([0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    s["a30c-report-supported-opcodes"] = cdb_record(
        [0xA3, 0x0C, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0])
    s["a30c-one-opcode"] = cdb_record([0xA3, 0x0C, 0x01, 0x28, 0, 0, 0, 0, 1, 0, 0, 0])
    s["a30d-report-supported-tmfs"] = cdb_record([0xA3, 0x0D, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0])
    s["a8-read12"] = cdb_record(cdb12(0xA8, 0, 1))
    s["aa-write12"] = cdb_record(cdb12(0xAA, 0, 1), block)
    s["ae-write-and-verify12"] = cdb_record(cdb12(0xAE, 0, 1, 0x02), block)
    s["af-verify12"] = cdb_record(cdb12(0xAF, 0, 1, 0x06), block)
    s["b7-read-defect-data12"] = cdb_record([0xB7, 0x08, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0])
    # The reservation commands (SPC-4 6.15-6.16, SPC-2 RESERVE/RELEASE):
    # PERSISTENT RESERVE OUT REGISTER key 1 from one port, RESERVE
    # (write exclusive) from it, a WRITE from another port, PERSISTENT
    # RESERVE IN READ KEYS and READ RESERVATION from a third.
    register = bytes(8) + (1).to_bytes(8, "big") + bytes(8)
    reserve = (1).to_bytes(8, "big") + bytes(16)
    pr_out = lambda sa, t: [0x5F, sa, t, 0, 0, 0, 0, 0, 24, 0]  # noqa: E731
    s["5f-5e-persistent-reservations"] = (
        cdb_record(pr_out(0x00, 0), register, who=0x00) +
        cdb_record(pr_out(0x01, 0x01), reserve, who=0x00) +
        cdb_record(cdb10(0x2A, 0, 1), block, who=0x05) +
        cdb_record([0x5E, 0x00, 0, 0, 0, 0, 0, 0x01, 0, 0], who=0x0A) +
        cdb_record([0x5E, 0x01, 0, 0, 0, 0, 0, 0x01, 0, 0], who=0x0A))
    s["16-17-reserve-release6"] = (cdb_record([0x16, 0, 0, 0, 0, 0], who=0x00) +
                                   cdb_record(bytes(6), who=0x05) +
                                   cdb_record([0x17, 0, 0, 0, 0, 0], who=0x00))
    # Several units and nexuses: a LUN reset by nexus 1, the unit
    # attention nexus 2 gets, the capacity change; each unit kind.
    s["multi-unit-attention"] = (
        cdb_record(bytes(6), who=0x01) + bytes([0x00, 0x05, 0]) +
        cdb_record(bytes(6), who=0x01) + cdb_record([0x03, 0, 0, 0, 18, 0], who=0x01) +
        bytes([0x00, 0x07, 0]) + cdb_record(bytes([0x25]) + bytes(9), who=0x02))
    s["units-4k-readonly-nofile-nolun"] = b"".join(
        cdb_record(cdb10(0x2A, 1, 1), bytes(4096 if where == 1 else 512), where=where)
        for where in range(5))
    s["overlapping-writes-then-read"] = (
        cdb_record(cdb10(0x2A, 0, 8), bytes(range(256)) * 16, who=0x80) +
        cdb_record(bytes([0x89, 0]) + bytes(8) + bytes([0, 0, 0, 1, 0, 0]), bytes(1024),
                   who=0x81) +
        cdb_record(cdb10(0x28, 0, 8), limit=32))
    # Third-party copy (SPC-4 6.3-6.4, SBC-3 token copy): EXTENDED COPY
    # from unit 0 to unit 1 (4 KiB blocks: a 0x0A byte segment) and
    # within unit 0 (overlapping), its status; POPULATE TOKEN on unit 0,
    # its token from RRTI (which the fuzzer cannot echo back, so WRITE
    # USING TOKEN gets the zero token and a forged one), REPORT ALL ROD
    # TOKENS; and the same EXTENDED COPY aborted as it is submitted.
    cscd0, cscd1 = cscd_e4(naa_for("fuzz,0"), 512), cscd_e4(naa_for("fuzz,1"), 4096)
    seg_bytes = bytes([0x0A, 0, 0, 28, 0, 0, 0, 1]) + (4096).to_bytes(4, "big") + \
        (8).to_bytes(8, "big") + (2).to_bytes(8, "big") + bytes(4)
    seg_overlap = bytes([0x02, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16]) + (0).to_bytes(8, "big") + \
        (4).to_bytes(8, "big")
    xcopy = xcopy_lid1(1, 0, cscd0 + cscd1, seg_bytes + seg_overlap)
    s["83-extended-copy-lid1"] = (
        cdb_record(xcopy_cdb(0x00, len(xcopy)), xcopy) +
        cdb_record([0x84, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]) +
        cdb_record([0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]))
    s["83-extended-copy-aborted"] = cdb_record(xcopy_cdb(0x00, len(xcopy)), xcopy, who=0x40)
    lid4 = bytearray(48)
    lid4[0], lid4[1], lid4[15] = 0x01, 0x10, 0x01  # discard, IMMED
    lid4[20:24] = (7).to_bytes(4, "big")
    lid4[42:44] = (32).to_bytes(2, "big")
    lid4[44:46] = (28).to_bytes(2, "big")
    lid4 = bytes(lid4) + cscd0 + seg_overlap[:4] + bytes([0xFF, 0xFF, 0xFF, 0xFF]) + seg_overlap[8:]
    s["83-extended-copy-lid4-immed"] = (
        cdb_record(xcopy_cdb(0x01, len(lid4)), lid4) +
        cdb_record([0x84, 0x05, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]) +
        cdb_record([0x83, 0x1C, 0, 0, 0, 7] + [0] * 10))
    ranges = (0).to_bytes(8, "big") + (8).to_bytes(4, "big") + bytes(4) + \
        (64).to_bytes(8, "big") + (8).to_bytes(4, "big") + bytes(4)
    populate = (14 + len(ranges)).to_bytes(2, "big") + bytes([0, 0]) + (30).to_bytes(4, "big") + \
        bytes(6) + len(ranges).to_bytes(2, "big") + ranges
    zero = (0xFFFF0001).to_bytes(4, "big") + bytes(2) + (0x1F8).to_bytes(2, "big") + bytes(504)
    forged = (0x00800000).to_bytes(4, "big") + bytes(2) + (0x1F8).to_bytes(2, "big") + \
        (1).to_bytes(8, "big") + bytes(496)
    wut = lambda token, off: ((534 + len(ranges)).to_bytes(2, "big") + bytes(6) +  # noqa: E731
                              off.to_bytes(8, "big") + token + bytes(6) +
                              len(ranges).to_bytes(2, "big") + ranges)
    token_cdb = lambda sa, n: [0x83, sa, 0, 0, 0, 0, 0, 0, 0, 9] + list(n.to_bytes(4, "big")) + [0, 0]  # noqa: E731,E501
    s["83-token-copy"] = (
        cdb_record(token_cdb(0x10, len(populate)), populate) +
        cdb_record([0x84, 0x07, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]) +
        cdb_record(token_cdb(0x11, len(wut(zero, 0))), wut(zero, 0), where=0) +
        cdb_record(token_cdb(0x11, len(wut(forged, 2))), wut(forged, 2), where=0) +
        cdb_record([0x84, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]) +
        cdb_record([0x12, 1, 0x8F, 0x04, 0, 0]))
    return s


def naa_for(name):
    """The NAA designator target/scsi/inquiry.cc's identity_for gives `name`."""
    def fnv1a(data, seed):
        h = 0xCBF29CE484222325 ^ seed
        for c in data:
            h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        return h
    raw = bytearray(fnv1a(name.encode(), 0).to_bytes(8, "big") +
                    fnv1a(name.encode(), 0x9E3779B97F4A7C15).to_bytes(8, "big"))
    raw[0] = 0x60 | (raw[0] & 0x0F)
    return bytes(raw)


def cscd_e4(naa, block_size):
    """An identification CSCD descriptor (0xE4) naming a unit by its NAA."""
    return bytes([0xE4, 0, 0, 0, 0x01, 0x03, 0, 16]) + naa + bytes(5) + block_size.to_bytes(3, "big")


def xcopy_lid1(list_id, usage, cscds, segments):
    return bytes([list_id, usage << 3]) + len(cscds).to_bytes(2, "big") + bytes(4) + \
        len(segments).to_bytes(4, "big") + bytes(4) + cscds + segments


def xcopy_cdb(sa, length):
    return [0x83, sa] + [0] * 8 + list(length.to_bytes(4, "big")) + [0, 0]


def dictionary():
    """fuzz/iscsi.dict: the words of iSCSI login and text."""
    words = ["InitiatorName=", "InitiatorAlias=", "TargetName=", "TargetAlias=",
             "SessionType=Normal", "SessionType=Discovery", "AuthMethod=None",
             "AuthMethod=CHAP", "AuthMethod=CHAP,None", "CHAP_A=5", "CHAP_A=7,6,5", "CHAP_A=",
             "CHAP_I=", "CHAP_C=0x", "CHAP_N=", "CHAP_R=0x", "CHAP_R=0b",
             "HeaderDigest=None", "HeaderDigest=CRC32C", "DataDigest=None",
             "DataDigest=CRC32C,None", "MaxRecvDataSegmentLength=", "FirstBurstLength=",
             "MaxBurstLength=", "MaxOutstandingR2T=", "ImmediateData=Yes", "ImmediateData=No",
             "InitialR2T=Yes", "InitialR2T=No", "ErrorRecoveryLevel=", "MaxConnections=",
             "DefaultTime2Wait=", "DefaultTime2Retain=", "IFMarker=No", "OFMarker=No",
             "IFMarkInt=", "OFMarkInt=", "DataPDUInOrder=", "DataSequenceInOrder=",
             "iSCSIProtocolLevel=", "TaskReporting=", "TargetPortalGroupTag=",
             "SendTargets=All", "SendTargets=", "NotUnderstood", "Irrelevant", "Reject",
             OPEN, CHAP, INITIATOR, CHAP_USER, "fuzz-target", "0x", "0b", "Yes", "No"]
    lines = ["# iSCSI login and text keys (RFC 7143 13), for libFuzzer's -dict.",
             "# Written by fuzz/make_corpus.py."]
    for w in words:
        lines.append('"%s"' % w.replace("\\", "\\\\").replace('"', '\\"'))
    return "\n".join(lines) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    connection = connection_seeds()
    corpora = {"fuzz_iscsi_connection": connection, "fuzz_iscsi_pdu": pdu_seeds(connection),
               "fuzz_scsi_cdb": cdb_seeds()}
    for target, seeds in corpora.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    with open(os.path.join(here, "iscsi.dict"), "w") as f:
        f.write(dictionary())


if __name__ == "__main__":
    main()
