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
    pgserver = _pgserver()

    server = pgserver.get_server(DATA_DIR, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME)


def stop() -> None:
    pgserver = _pgserver()

    if (DATA_DIR / "postmaster.pid").exists():
        pgserver.get_server(DATA_DIR, cleanup_mode="stop").cleanup()


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        print(database_url())
