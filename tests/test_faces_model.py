"""The face model on pictures packages and public repositories ship (adults only): scikit-image's
public-domain astronaut photograph, and the example photos of ageitgey/face_recognition (MIT, see
tests/data/faces/LICENSE-face_recognition). Everything runs in the limited child, as in the server."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from tipline.faces.detect import FacesError, faces_in_bytes
from tipline.settings import Settings

DATA = Path(__file__).parent / "data" / "faces"
THRESHOLD = Settings.model_fields["faces_threshold"].default


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def embedding(data: bytes, settings: Settings) -> np.ndarray:
    found = faces_in_bytes(data, settings)
    assert found.faces, "no face found"
    best = max(found.faces, key=lambda f: f.box[2] * f.box[3])
    return np.frombuffer(best.embedding, dtype="<f4")


@pytest.fixture
def st(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", faces_enabled=True)


def test_the_astronaut_is_found_again_after_crop_scale_jpeg_brightness_and_mirror(st: Settings):
    img = astronaut()
    found = faces_in_bytes(encode(img), st)
    assert found.kind == "image" and (found.width, found.height) == (512, 512)
    face = max(found.faces, key=lambda f: f.quality)
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 250 and 80 < y + h / 2 < 170  # her face, not the flag or the helmet
    assert face.quality >= 60
    ref = np.frombuffer(face.embedding, dtype="<f4")
    variants = {
        "crop": encode(img.crop((80, 0, 400, 300))),
        "scale": encode(img.resize((320, 320), Image.BILINEAR)),
        "jpeg": encode(img, "JPEG", quality=30),
        "brightness": encode(ImageEnhance.Brightness(img).enhance(1.5)),
        "mirror": encode(ImageOps.mirror(img)),
    }
    for name, data in variants.items():
        d = float(np.linalg.norm(embedding(data, st) - ref))
        assert d < 0.45, f"{name}: distance {d:.3f}"


@pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0, reason="no ffmpeg")
def test_the_astronaut_is_found_in_a_frame_of_a_synthetic_video(st: Settings, tmp_path: Path):
    still = tmp_path / "a.png"
    astronaut().save(still)
    video = tmp_path / "a.mp4"
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-loop", "1", "-i", str(still), "-t", "2", "-r", "10"]
    cmd += ["-vf", "zoompan=z='1+0.002*on':d=1:s=640x480,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast"]
    subprocess.run([*cmd, str(video)], check=True, timeout=120)
    ref = embedding(encode(astronaut()), st)
    found = faces_in_bytes(video.read_bytes(), st.model_copy(update={"faces_video_frames": 4}))
    assert found.kind == "video" and found.frames == 4 and (found.width, found.height) == (640, 480)
    frames = {f.frame for f in found.faces}
    assert len(frames) >= 3 and all(f.ts is not None for f in found.faces)
    best = min(float(np.linalg.norm(np.frombuffer(f.embedding, dtype="<f4") - ref)) for f in found.faces)
    assert best < 0.45


def test_the_same_person_matches_and_different_people_do_not_at_the_default_threshold(st: Settings):
    e = {n: embedding((DATA / f"{n}.jpg").read_bytes(), st) for n in ("obama", "obama2", "biden", "biden2")}
    e["astronaut"] = embedding(encode(astronaut()), st)

    def d(a: str, b: str) -> float:
        return float(np.linalg.norm(e[a] - e[b]))

    assert d("obama", "obama2") < THRESHOLD and d("biden", "biden2") < THRESHOLD
    for a, b in [("obama", "biden"), ("obama", "biden2"), ("obama2", "biden"), ("astronaut", "obama")]:
        assert d(a, b) > THRESHOLD + 0.1, (a, b, d(a, b))
    assert d("astronaut", "biden") > THRESHOLD + 0.1


def test_files_without_faces_and_hostile_files(st: Settings):
    flat = faces_in_bytes(encode(Image.new("RGB", (300, 200), (90, 90, 90))), st)
    assert flat.kind == "image" and flat.faces == []
    assert faces_in_bytes(b"just some text, not a picture", st).kind == "other"
    with pytest.raises(FacesError, match="corrupt or truncated"):
        faces_in_bytes(encode(astronaut(), "JPEG")[:3000], st.model_copy(update={"max_image_pixels": 10**6}))
    big = encode(Image.new("L", (9000, 9000)), "PNG", optimize=True)
    assert len(big) < 500_000
    with pytest.raises(FacesError, match="TIPLINE_MAX_IMAGE_PIXELS"):
        faces_in_bytes(big, st)
    with pytest.raises(FacesError, match="TIPLINE_MEDIA_CHILD_MEMORY_MB"):
        faces_in_bytes(encode(astronaut()), st.model_copy(update={"media_child_memory_mb": 120}))


def test_the_embedding_batch_gives_what_one_chip_at_a_time_gives_and_names_its_device():
    """The GPU path is the batch call (dlib runs it on CUDA when built with it); here it runs on the CPU."""
    from tipline.faces.model import FaceModel, device

    model = FaceModel()
    rgb = np.asarray(Image.open(DATA / "obama.jpg").convert("RGB"))
    rgb2 = np.asarray(astronaut())
    chips = model.chips(rgb, [r for r, _ in model.detect(rgb)]) + model.chips(rgb2, [r for r, _ in model.detect(rgb2)])
    assert len(chips) >= 2
    batch = model.embed(chips)
    one_by_one = np.vstack([model.embed([c]) for c in chips])
    assert batch.shape == (len(chips), 128) and np.allclose(batch, one_by_one, atol=1e-5)
    assert device() in ("cpu", "cuda")


@pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0, reason="no ffmpeg")
def test_a_hostile_video_is_refused_from_its_headers_and_costs_this_process_nothing(st: Settings, tmp_path: Path):
    def hwm_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    video = tmp_path / "many.mp4"  # 20,000 tiny frames: more than TIPLINE_MAX_VIDEO_FRAMES (18,000)
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "color=black:s=64x64:d=20:r=1000"]
    subprocess.run(
        [*cmd, "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", str(video)], check=True, timeout=120
    )
    before = hwm_kb()
    with pytest.raises(FacesError, match="TIPLINE_MAX_VIDEO_FRAMES"):
        faces_in_bytes(video.read_bytes(), st)
    damaged = video.read_bytes()[:2000]
    with pytest.raises(FacesError):
        faces_in_bytes(damaged, st)
    assert hwm_kb() - before < 20_000
