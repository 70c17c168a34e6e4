"""Download ICT-FaceKit from its public repository (the only network access of the importer).

Offline, the first connection fails within TIMEOUT_S and the error says how to do it by hand.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ...errors import BackendError
from .topology import REPOSITORY

ARCHIVE_URL = f"{REPOSITORY}/archive/HEAD.zip"
TIMEOUT_S = 5.0
_WANTED = re.compile(r"^[^/]+/(FaceXModel/[^/.][^/]*|LICENSE|README\.md)$")  # what the importer reads, and the licence


def fetch_ict(dest: Path, url: str = ARCHIVE_URL) -> str | None:
    """Download the repository's archive and unpack FaceXModel/ (plus LICENSE, README.md) into
    `dest`. Returns the commit the archive was made from, when the archive says."""
    manual = (f"Do it by hand: git clone {REPOSITORY} (or download it as a zip and unpack it), then run "
              "`python -m backend headmodel import-ict PATH/TO/ICT-FaceKit`.")
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (urllib.error.URLError, OSError) as exc:
        raise BackendError(f"could not reach {url} ({getattr(exc, 'reason', exc)}): are you offline? {manual}") from None
    dest.mkdir(parents=True, exist_ok=True)
    with response, tempfile.TemporaryFile(dir=dest) as archive:
        try:
            shutil.copyfileobj(response, archive, 1 << 20)
        except OSError as exc:
            raise BackendError(f"the download of {url} broke off ({exc}). {manual}") from None
        try:
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.namelist():
                    wanted = _WANTED.match(member)
                    if wanted:
                        (dest / wanted.group(1)).parent.mkdir(exist_ok=True)
                        (dest / wanted.group(1)).write_bytes(bundle.read(member))
                comment = bundle.comment.decode(errors="replace").strip()
        except zipfile.BadZipFile:
            raise BackendError(f"{url} did not send a zip archive. {manual}") from None
    return comment if re.fullmatch(r"[0-9a-f]{40}", comment) else None
