"""The local Ray cluster the transport starts: every socket it listens on is a loopback one.

The cluster is the session's (``ray_cluster``), started by the transport's
own :func:`~mac_plugins.ray.cluster.connect`; its sockets are read from
``/proc`` (the processes descending from this one, the Ray driver).
"""

from __future__ import annotations

import ipaddress
import os
import struct
import sys

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator

pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.timeout(300),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

KEY = "sk-ant-ray-test-0123456789"
LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:  # ended meanwhile
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets ``pid`` holds open."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def address_of(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A /proc/net/tcp{,6} local address (host-order 32-bit words in hex) as an address."""
    words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
    return ipaddress.ip_address(b"".join(struct.pack("<I", word) for word in words))


def listening(pids: set[int]) -> list[tuple[str, int, str]]:
    """``(address, port, process name)`` of every TCP socket in LISTEN state held by ``pids``."""
    owner = {inode: pid for pid in pids for inode in socket_inodes(pid)}
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] != LISTEN or fields[9] not in owner:
                    continue
                host, port = fields[1].split(":")
                with open(f"/proc/{owner[fields[9]]}/comm") as comm:
                    name = comm.read().strip()
                found.append((str(address_of(host)), int(port, 16), name))
    return found


def is_loopback(text: str) -> bool:
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def test_the_local_cluster_listens_on_loopback_only(ray_cluster):
    with Simulator(tokens=3, token_delay=0) as sim:
        [done] = Coordinator(api_key=KEY, base_url=sim.url).run(["start the workers"], transport="ray")
    assert done.status == "completed"
    sockets = listening(descendants(os.getpid()))
    names = {name for _, _, name in sockets}
    # The cluster's servers are all there: the GCS, the raylet, the worker actors' processes.
    assert {"gcs_server", "raylet"} <= names and any(name.startswith("ray::") for name in names), sockets
    assert ray_cluster.startswith("127.0.0.1:"), ray_cluster
    exposed = [entry for entry in sockets if not is_loopback(entry[0])]
    assert exposed == [], exposed
