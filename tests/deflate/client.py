"""An independent permessage-deflate client for tests/chapter_12.rs, built on
Python `websockets` (which implements RFC 7692 itself).

    client.py echo PORT [PARAM ...]   offer permessage-deflate with PARAMs
                                      (server_no_context_takeover,
                                      client_no_context_takeover,
                                      server_max_window_bits=N,
                                      client_max_window_bits[=N]), send
                                      JSON-like text and random binary, check
                                      every echo; print the agreed answer
    client.py bomb PORT SIZE          send SIZE zero bytes, compressed, as one
                                      message; print the close code received

Prints one line per fact on stdout; exits 1 with the reason on a mismatch.
"""

import json
import os
import sys

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect


def factory(params):
    options = {"client_max_window_bits": None}
    for param in params:
        name, _, value = param.partition("=")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            options[name] = True
        elif name == "server_max_window_bits":
            options[name] = int(value)
        elif name == "client_max_window_bits":
            options[name] = int(value) if value else True
        else:
            sys.exit("unknown parameter " + param)
    return ClientPerMessageDeflateFactory(**options)


def open_socket(port, params):
    return connect(
        "ws://127.0.0.1:%d/" % port,
        extensions=[factory(params)],
        compression=None,
        max_size=None,
        open_timeout=10,
        close_timeout=10,
    )


def echo(port, params):
    with open_socket(port, params) as ws:
        print("agreed:", ws.response.headers.get("Sec-WebSocket-Extensions"))
        chat = [
            json.dumps({"from": "ada", "text": "message %d: shall we meet at %d?" % (i, i % 12)})
            for i in range(50)
        ]
        messages = chat + [os.urandom(5000), "", "Hello", "Hello", "é" * 70000]
        for message in messages:
            ws.send(message)
            reply = ws.recv(timeout=10)
            if reply != message:
                sys.exit("echo differs for a %s message of %d" % (type(message).__name__, len(message)))
        print("echoed:", len(messages))
        # Fragmented: websockets sets RSV1 on the first frame only.
        ws.send(iter(["frag", "mented ", "message"]))
        if ws.recv(timeout=10) != "fragmented message":
            sys.exit("fragmented echo differs")
        print("fragmented: ok")


def bomb(port, size):
    with open_socket(port, []) as ws:
        ws.send(bytes(size))
        try:
            ws.recv(timeout=10)
            sys.exit("the bomb was echoed")
        except ConnectionClosed as closed:
            print("closed:", closed.rcvd.code if closed.rcvd else None)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    scenario, port = sys.argv[1], int(sys.argv[2])
    if scenario == "echo":
        echo(port, sys.argv[3:])
    elif scenario == "bomb":
        bomb(port, int(sys.argv[3]))
    else:
        sys.exit(__doc__)
