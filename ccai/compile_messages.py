"""Compile the translations (locale/*/LC_MESSAGES/*.po) into the .mo files Django reads.

`make install` runs it, so that a fresh clone needs no gettext tools: polib writes the same
binary format as msgfmt. Only what changed is written. Run as `python -m ccai.compile_messages`."""

import sys
from pathlib import Path

import polib

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def stale_catalogs(locale_dir: Path | None = None) -> list[Path]:
    """The .po files whose .mo is missing or older: Django would show English in their place."""
    locale_dir = locale_dir or LOCALE_DIR
    return [
        po_path
        for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po"))
        if not po_path.with_suffix(".mo").exists()
        or po_path.with_suffix(".mo").stat().st_mtime < po_path.stat().st_mtime
    ]


def compile_messages(locale_dir: Path | None = None) -> list[Path]:
    """Compile every .po file newer than its .mo; returns the .mo files written."""
    written = []
    for po_path in stale_catalogs(locale_dir):
        mo_path = po_path.with_suffix(".mo")
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        written.append(mo_path)
    return written


if __name__ == "__main__":
    for path in compile_messages(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(f"compiled {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
