"""The PostgreSQL server used when DATABASE_URL is not set: a real server from the
pgserver wheel, its data in the git-ignored `.pgdata/` folder, left running between
commands so that each start of the app only checks that it is up."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / ".pgdata"
DATABASE_NAME = "ccai"


def _pgserver():
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; /tmp is fine for its lock.
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def database_url() -> str:
    import fcntl
    import os

    pgserver = _pgserver()

    # Several processes may start at once (the test workers of `pytest -n`): pgserver locks its
    # initdb and start, but creates the folder and we create the database without a lock, so
    # each process takes this lock on the folder first and the others wait for it.
    DATA_DIR.mkdir(exist_ok=True)
    lock = os.open(DATA_DIR, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = pgserver.get_server(DATA_DIR, cleanup_mode=None)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        return server.get_uri(DATABASE_NAME)
    finally:
        os.close(lock)  # and with it the lock


def stop(data_dir: Path = DATA_DIR) -> None:
    # pg_ctl itself: pgserver's own cleanup() stops the server only for the last process it knows
    # of, and a handle left by a killed process would keep it running.
    if (data_dir / "postmaster.pid").exists():
        pgserver = _pgserver()
        from pgserver._commands import pg_ctl

        server = pgserver.get_server(data_dir, cleanup_mode=None)
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user, timeout=60)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        print(database_url())
