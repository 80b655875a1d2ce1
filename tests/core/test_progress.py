"""The workers' side of the progress line: datagrams, the reporter, the tap in a real pipeline."""

import pickle
import socket

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.core.progress import (
    EXTRACTED,
    FETCHED,
    ProgressAddress,
    ProgressReporter,
    TapProgress,
    decode_counts,
    encode_counts,
)


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def received(sock, token):
    """Sum every datagram for ``token`` until the socket is quiet for a moment."""
    total: dict[str, int] = {}
    sock.settimeout(1.0)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return total
        for kind, n in (decode_counts(data, token) or {}).items():
            total[kind] = total.get(kind, 0) + n


def test_datagrams_round_trip_and_foreign_ones_are_ignored():
    data = encode_counts("tok", {FETCHED: 3})
    assert decode_counts(data, "tok") == {FETCHED: 3}
    assert decode_counts(data, "other-run") is None
    assert decode_counts(b"not json", "tok") is None
    assert decode_counts(b'{"t": "tok", "c": {"fetched": -1, "bogus": 5}}', "tok") is None


def test_only_loopback_addresses_are_accepted():
    with pytest.raises(ValueError, match="loopback"):
        ProgressAddress("10.0.0.1", 9, "tok")


def test_reporter_sends_what_it_counted_and_pickles_without_its_socket(listener):
    address = ProgressAddress("127.0.0.1", listener.getsockname()[1], "tok")
    reporter = ProgressReporter(address)
    for _ in range(5):
        reporter.add(FETCHED)
    reporter.add(EXTRACTED, 2)
    copy = pickle.loads(pickle.dumps(reporter))
    reporter.flush()
    copy.flush()  # a fresh copy has nothing pending: it sends nothing
    assert received(listener, "tok") == {FETCHED: 5, EXTRACTED: 2}


def test_reporter_never_raises_when_nobody_listens():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    reporter = ProgressReporter(ProgressAddress("127.0.0.1", port, "tok"))
    reporter.add(FETCHED)
    reporter.flush()
    reporter.add(FETCHED)
    reporter.flush()


def test_tap_counts_every_element_of_several_collections_on_a_real_runner(listener):
    address = ProgressAddress("127.0.0.1", listener.getsockname()[1], "run-1")
    options = PipelineOptions(["--runner", "FnApiRunner"])
    with beam.Pipeline(options=options) as p:
        a = p | "A" >> beam.Create(range(250))
        b = p | "B" >> beam.Create(range(7))
        (a, b) | "Tap" >> TapProgress(address, FETCHED)
    assert received(listener, "run-1") == {FETCHED: 257}


def test_tap_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown progress kind"):
        TapProgress(ProgressAddress("127.0.0.1", 9, "t"), "bananas")
