"""Every outbound call is bounded as a whole (issue 26, item 3): an answer that drips a byte at a
time, or never starts, ends at the call's total, whatever its per-read timeout."""
import socket
import threading
import time

import pytest

from chalicelib.labelstudio import net


@pytest.fixture
def dripping(monkeypatch):
    """A loopback server answering 200 with a 1 MB Content-Length and then a byte every 0.1 s."""
    monkeypatch.setenv(net.ALLOW_ENV, "loopback")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[")
                while not stop.is_set():
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        break
                    time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/export"
    stop.set()
    thread.join(5)
    listener.close()


def test_a_dripping_answer_ends_at_the_total(dripping):
    started = time.monotonic()
    with pytest.raises(net.UpstreamError) as exc:
        net.request("GET", dripping, timeout=(1.0, 1.0, 1.5))
    assert exc.value.kind == "timeout" and "1.5 s in all" in exc.value.message
    assert time.monotonic() - started < 3.5


def test_a_two_part_timeout_has_a_total_too():
    assert net._total((1.0, 5.0)) == 1.0 * (net.CONNECT_RETRIES + 1) + 5.0
    assert net._total((1.0, 5.0, 7.0)) == 7.0


def test_every_outbound_call_names_a_total():
    from chalicelib.labelstudio import client, lsapi

    limits = [client.HEALTH_TIMEOUT, client.SETUP_TIMEOUT, client.PREDICT_TIMEOUT, client.TRAIN_TIMEOUT,
              lsapi.TOKEN_TIMEOUT, lsapi.EXPORT_TIMEOUT, lsapi.IMPORT_TIMEOUT]
    assert all(len(t) == 3 and t[2] >= t[1] for t in limits)
    # the export's total lets the largest answer it accepts arrive at 100 KB/s
    assert lsapi.EXPORT_TIMEOUT[2] >= net.MAX_RESPONSE_BYTES / 100_000
