"""The test servers' ports: each pytest-xdist process has a range of its own."""

import socket

from ccai import testing_servers


def test_each_test_process_takes_ports_from_its_own_range_and_never_one_twice(monkeypatch):
    monkeypatch.setattr(testing_servers, "_handed_out", set())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    low = testing_servers.FIRST_TEST_PORT + 3 * testing_servers.PORTS_PER_TEST_PROCESS
    with socket.socket() as taken:  # a port something else holds is skipped
        taken.bind(("127.0.0.1", low))
        ports = [testing_servers.free_port() for _ in range(20)]
    assert len(set(ports)) == 20 and low not in ports
    assert all(low <= port < low + testing_servers.PORTS_PER_TEST_PROCESS for port in ports)
    assert all(port < 32768 for port in ports)  # below the kernel's own choices


def test_outside_xdist_the_kernel_chooses_and_no_port_is_handed_out_twice(monkeypatch):
    monkeypatch.setattr(testing_servers, "_handed_out", set())
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    ports = [testing_servers.free_port() for _ in range(20)]
    assert len(set(ports)) == 20
