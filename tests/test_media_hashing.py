"""Media hashing: PDQ against the reference test vectors, robustness on synthetic images, dihedral
matching, refusals (decompression bombs, corrupt files), vPDQ on synthetic video, the synthetic media."""

from __future__ import annotations

import csv
import io
import os
import shutil
import statistics
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tipline.media import hashing
from tipline.media.hashing import (
    DIHEDRAL_PILLOW_OPS,
    MediaError,
    VpdqUnavailable,
    hash_bytes,
    hash_file,
    pdq_dihedral,
    pdq_hamming,
    pdq_image,
    vpdq_bytes,
)
from tipline.synth import images as synth

PDQ_DIR = Path(__file__).parent / "data" / "pdq"
THRESHOLD = 31
VECTORS = list(csv.DictReader((PDQ_DIR / "expected.csv").open()))


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    return synth.encode(img, "JPEG", quality=quality)


# ------------------------------------------------------------------------------------------ reference vectors


@pytest.mark.parametrize("row", VECTORS, ids=[r["file"] for r in VECTORS])
def test_pdq_equals_the_reference_test_vectors(row):
    h = hash_file(PDQ_DIR / row["file"])
    assert h.kind == "image" and h.media_type == "image/jpeg"
    assert h.pdq == row["pdq"], f"{row['file']}: {pdq_hamming(h.pdq, row['pdq'])} bits from {row['expected_from']}"
    if row["quality"]:
        assert h.pdq_quality == int(row["quality"])
    # intake takes the plain hash from the dihedral computation (one DCT for all 8): the same bits
    d = hash_file(PDQ_DIR / row["file"], dihedral=True)
    assert (d.pdq, d.pdq_quality) == (h.pdq, h.pdq_quality) and d.pdq_dihedral[0] == h.pdq


def test_vectors_are_what_source_md_names():
    import hashlib

    source = (PDQ_DIR / "SOURCE.md").read_text()
    assert "baefb4ed67b6cdc1d4c82dbaef858d50866ac424" in source
    for row in VECTORS:
        digest = hashlib.sha256((PDQ_DIR / row["file"]).read_bytes()).hexdigest()
        assert f"| {row['file']} |" in source and digest in source


def test_exact_hashes_and_sniffed_type():
    img = synth.synth_image(3)
    png = synth.encode(img, "PNG")
    h = hash_bytes(png, filename="holiday.jpg")  # the name lies; the bytes decide
    import hashlib

    assert h.media_type == "image/png" and h.kind == "image"
    assert (h.md5, h.sha1, h.sha256, h.size) == (
        hashlib.md5(png).hexdigest(),
        hashlib.sha1(png).hexdigest(),
        hashlib.sha256(png).hexdigest(),
        len(png),
    )
    assert (h.width, h.height) == img.size
    assert (h.pdq, h.pdq_quality) == pdq_image(img)
    assert h.pdq_quality >= 50
    other = hash_bytes(b"just some text, not media" * 10)
    assert other.kind == "other" and other.pdq is None and other.vpdq is None and other.media_type is None


def test_modes_are_hashed_as_rgb_and_alpha_is_dropped():
    img = synth.synth_image(4, (200, 150))
    rgba = img.convert("RGBA")
    rgba.putalpha(128)
    assert hash_bytes(synth.encode(rgba, "PNG")).pdq == pdq_image(img)[0]
    grey = img.convert("L")
    assert hash_bytes(synth.encode(grey, "PNG")).pdq == pdq_image(grey.convert("RGB"))[0]
    pal = img.convert("P")
    assert hash_bytes(synth.encode(pal, "PNG")).pdq == pdq_image(pal.convert("RGB"))[0]


def test_pdq_hamming():
    a = "0" * 64
    assert pdq_hamming(a, a) == 0
    assert pdq_hamming(a, "f" * 64) == 256
    assert pdq_hamming(a, "0" * 63 + "7") == 3
    with pytest.raises(ValueError):
        pdq_hamming(a, "abc")


# ------------------------------------------------------------------------------------------ robustness


SEEDS = range(12)


def _originals():
    for seed in SEEDS:
        orig = decoded(jpeg(synth.synth_image(1000 + seed, (480, 360))))
        yield orig, pdq_image(orig)[0]


def test_jpeg50_and_half_size_stay_within_31_bits():
    worst = {"jpeg50": 0, "half": 0}
    for orig, h0 in _originals():
        for name in worst:
            copy = decoded(jpeg(synth.transform(orig, name)))
            worst[name] = max(worst[name], pdq_hamming(pdq_image(copy)[0], h0))
    assert worst["jpeg50"] <= THRESHOLD and worst["half"] <= THRESHOLD, worst


def test_crops_mirrors_and_rotations_break_plain_pdq_and_dihedral_hashes_repair_the_dihedral_ones():
    plain: dict[str, list[int]] = {}
    dihedral: dict[str, list[int]] = {}
    for orig, h0 in _originals():
        for name in ("crop5", "mirror", *synth.DIHEDRAL_TRANSFORMS):
            copy = decoded(jpeg(synth.transform(orig, name)))
            plain.setdefault(name, []).append(pdq_hamming(pdq_image(copy)[0], h0))
            # query side: the copy's 8 dihedral hashes against the original's plain hash
            dihedral.setdefault(name, []).append(min(pdq_hamming(x, h0) for x in pdq_dihedral(copy)))
    # measured, not tuned: a 5% crop moves the median copy past the threshold, a mirror makes it a stranger
    assert statistics.median(plain["crop5"]) > THRESHOLD
    assert statistics.median(plain["mirror"]) > 100
    for name in synth.DIHEDRAL_TRANSFORMS:
        assert statistics.median(plain[name]) > 90, (name, plain[name])
        assert max(dihedral[name]) <= THRESHOLD, (name, dihedral[name])
    assert statistics.median(dihedral["crop5"]) > THRESHOLD  # dihedral hashes do not help against crops


def test_dihedral_hashes_are_in_the_documented_order():
    img = decoded(jpeg(synth.synth_image(21, (400, 300))))
    dih = pdq_dihedral(img)
    assert len(dih) == 8 and dih[0] == pdq_image(img)[0]
    for i, op in enumerate(DIHEDRAL_PILLOW_OPS):
        turned = img if op is None else img.transpose(op)
        distances = [pdq_hamming(pdq_image(turned)[0], x) for x in dih]
        assert distances.index(min(distances)) == i and distances[i] <= THRESHOLD, (op, distances)
    assert pdq_dihedral(jpeg(img)) == pdq_dihedral(decoded(jpeg(img)))  # bytes or an image


def test_exif_orientation_is_recorded_not_applied_and_dihedral_hashes_find_the_turned_copy():
    img = synth.synth_image(8, (320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, exif=exif)
    h = hash_bytes(buf.getvalue())
    raw = decoded(buf.getvalue())
    assert h.exif_orientation == 6 and (h.width, h.height) == (320, 240)
    assert h.pdq == pdq_image(raw)[0]  # the stored pixels, as the reference tools hash them
    upright = ImageOps.exif_transpose(raw)
    assert upright.size == (240, 320)
    assert pdq_hamming(pdq_image(upright)[0], h.pdq) > 90
    assert min(pdq_hamming(pdq_image(upright)[0], x) for x in pdq_dihedral(raw)) <= THRESHOLD


# ------------------------------------------------------------------------------------------ refusals


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bombs_are_refused_and_keep_their_exact_hashes():
    # a header that claims 100,000 x 100,000 pixels (Pillow would allocate 10 GB)
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    bomb += _png_chunk(b"IEND", b"")
    with pytest.raises(MediaError, match="decompression bomb"):
        hash_bytes(bomb)
    # under Pillow's own limit but over ours
    big = synth.encode(Image.new("L", (1500, 1000)), "PNG")
    with pytest.raises(MediaError, match=r"1,500,000 pixels.*decompression bomb"):
        hash_bytes(big, max_pixels=1_000_000, filename="big.png")
    lenient = hash_bytes(big, max_pixels=1_000_000, strict=False)
    assert lenient.kind == "image" and lenient.media_type == "image/png" and lenient.pdq is None
    assert "decompression bomb" in (lenient.error or "") and len(lenient.sha256) == 64
    assert lenient.as_details()["hash_error"] == lenient.error


def test_corrupt_images_are_a_clear_error():
    data = jpeg(synth.synth_image(5))
    with pytest.raises(MediaError, match="corrupt or truncated") as e:
        hash_bytes(data[: len(data) // 2], filename="cut.jpg")
    assert str(e.value).startswith("cut.jpg: ")
    lenient = hash_bytes(data[: len(data) // 2], strict=False)
    assert lenient.kind == "image" and lenient.pdq is None and lenient.error


# ------------------------------------------------------------------------------------------ video

vpdq_installed = pytest.mark.skipif(
    not hashing.vpdq_available(),
    reason="vpdq is not installed: run `make` (scripts/ensure-ffmpeg-dev.sh installs FFmpeg's dev packages)",
)


@pytest.fixture(scope="module")
def video_frames():
    return synth.video_frames(11, frames=36, size=(256, 192))


@pytest.fixture(scope="module")
def video(video_frames):
    return synth.encode_avi(video_frames, fps=24)


@vpdq_installed
def test_vpdq_hashes_every_frame_of_a_stored_video(video, video_frames, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    h = hash_bytes(video, filename="clip.avi")
    assert h.kind == "video" and h.media_type == "video/x-msvideo" and h.pdq is None
    assert [f["frame"] for f in h.vpdq] == list(range(36))
    assert all(set(f) == {"pdq", "quality", "frame", "ts"} for f in h.vpdq)
    assert h.vpdq[12]["ts"] == pytest.approx(0.5, abs=0.01)
    # each frame's vPDQ is the PDQ of that picture (after its JPEG round trip)
    d = [pdq_hamming(f["pdq"], pdq_image(decoded(jpeg(img)))[0]) for f, img in zip(h.vpdq, video_frames, strict=True)]
    assert max(d) <= 10, d
    assert os.listdir(tmp_path) == []  # the temporary file is gone


@vpdq_installed
def test_vpdq_samples_frames_for_queries(video, monkeypatch):
    every = vpdq_bytes(video)
    sampled = vpdq_bytes(video, sample_every=5)
    assert [f["frame"] for f in sampled] == list(range(0, 36, 5))
    assert sampled == [f for f in every if f["frame"] % 5 == 0]
    # no ffprobe: the video's size cannot be checked before decoding, so it is not decoded
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(VpdqUnavailable, match="ffprobe"):
        vpdq_bytes(video, sample_every=5)


@vpdq_installed
def test_h264_copy_of_a_video_stays_close_frame_by_frame(video):
    if shutil.which("ffmpeg") is None:
        pytest.skip("the ffmpeg command is not installed (scripts/ensure-ffmpeg-dev.sh installs it)")
    mp4 = synth.to_h264(video)
    h = hash_bytes(mp4)
    assert h.kind == "video" and h.media_type == "video/mp4"
    a = vpdq_bytes(video)
    d = [pdq_hamming(x["pdq"], y["pdq"]) for x, y in zip(a, h.vpdq, strict=False)]
    assert len(h.vpdq) == len(a) and statistics.median(d) <= THRESHOLD


@vpdq_installed
def test_undecodable_video_is_a_clear_error(video, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    broken = video[:240] + bytes(5000)
    with pytest.raises(MediaError, match="video"):
        hash_bytes(broken)
    assert os.listdir(tmp_path) == []
    assert hash_bytes(broken, strict=False).error


def test_missing_vpdq_says_how_to_install(video, monkeypatch):
    monkeypatch.setitem(sys.modules, "vpdq", None)  # what an environment without the package sees
    with pytest.raises(VpdqUnavailable, match="make"):
        vpdq_bytes(video)
    assert not hashing.vpdq_available()


def test_video_containers_are_sniffed_by_magic_bytes():
    assert hashing.sniff_video(b"\x00\x00\x00\x18ftypisom" + bytes(20)) == "video/mp4"
    assert hashing.sniff_video(b"\x00\x00\x00\x14ftypqt  " + bytes(20)) == "video/quicktime"
    assert hashing.sniff_video(b"\x00\x00\x00\x18ftypM4A " + bytes(20)) is None
    assert hashing.sniff_video(b"\x1a\x45\xdf\xa3" + bytes(8) + b"webm" + bytes(8)) == "video/webm"
    assert hashing.sniff_video(b"RIFF\x00\x00\x00\x00AVI LIST") == "video/x-msvideo"
    assert hashing.sniff_video(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
    assert hashing.sniff_video(b"plain text file") is None


# ------------------------------------------------------------------------------------------ synthetic media


def test_synthetic_media_is_deterministic_and_labelled():
    assert synth.synth_image(9).tobytes() == synth.synth_image(9).tobytes()
    assert synth.synth_image(9).tobytes() != synth.synth_image(10).tobytes()
    for style in synth.STYLES:
        assert synth.synth_image(2, (64, 48), style=style).size == (64, 48)
    items = synth.media_set(1, n_images=2, transforms=("mirror",), n_videos=1, video_transforms=("trim6",))
    assert [m.id for m in items] == ["img-1-0000", "img-1-0000~mirror", "img-1-0001", "img-1-0001~mirror"] + [
        "vid-1-0000",
        "vid-1-0000~trim6",
    ]
    assert {m.original for m in items if m.kind == "image"} == {"img-1-0000", "img-1-0001"}
    assert items == synth.media_set(1, n_images=2, transforms=("mirror",), n_videos=1, video_transforms=("trim6",))
    assert hash_bytes(items[0].data).media_type == "image/jpeg"
    with pytest.raises(ValueError):
        synth.transform(synth.synth_image(1), "nope")
