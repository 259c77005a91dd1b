"""The test servers' ports: each pytest-xdist process has a range of its own."""

import socket

from tests import servers


def test_each_test_process_takes_ports_from_its_own_range_and_never_one_twice(monkeypatch):
    monkeypatch.setattr(servers, "_handed_out", set())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    low = servers.FIRST_TEST_PORT + 3 * servers.PORTS_PER_TEST_PROCESS
    with socket.socket() as taken:  # a port something else holds is skipped
        taken.bind(("127.0.0.1", low))
        ports = [servers.free_port() for _ in range(20)]
    assert len(set(ports)) == 20 and low not in ports
    assert all(low <= port < low + servers.PORTS_PER_TEST_PROCESS for port in ports)
    assert all(port < 32768 for port in ports)  # below the kernel's own choices


def test_outside_xdist_the_kernel_chooses_and_no_port_is_handed_out_twice(monkeypatch):
    monkeypatch.setattr(servers, "_handed_out", set())
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    ports = [servers.free_port() for _ in range(20)]
    assert len(set(ports)) == 20
