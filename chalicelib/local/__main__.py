"""`python -m chalicelib.local serve [--port 8000] [--host 127.0.0.1] [--schedule-every 300]
[--state-dir DIR] [--fresh]`"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local",
                                     description="activelabel's local stack (moto + API + "
                                                 "event pump)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local stack in the foreground")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--schedule-every", type=float, default=300.0, metavar="SECONDS",
                       help="fire the @app.schedule functions this often (0: never)")
    serve.add_argument("--state-dir", default=None, metavar="DIR",
                       help="where the stack keeps its state (default: $ACTIVELABEL_STATE_DIR "
                            "or .activelabel-state/ in the checkout)")
    serve.add_argument("--fresh", action="store_true",
                       help="start empty: forget the state kept in the state directory")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from chalicelib.local.server import serve as run
        from chalicelib.local.state import StateDirInUse

        try:
            return run(port=args.port, host=args.host,
                       schedule_every=args.schedule_every or None,
                       state_dir=args.state_dir, fresh=args.fresh)
        except StateDirInUse as e:
            print(f"cannot serve: {e}", file=sys.stderr)
            return 1
        except OSError as e:  # typically: the port is taken
            print(f"cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
