"""load_clip on the real test clips: sampling, resizing, seeking, the cache and bad input."""
import math
import os
import shutil

import av
import numpy as np
import pytest
from shared_data import VIDEOS

from crpo.data.items import DataError
from crpo.data.video import INTERPOLATION, decode_plan, load_clip, sample_indices, smart_resize

CLIPS = {  # name: (height, width, frames, fps)
    "bigbuckbunny.mp4": (720, 1280, 132, 25.0),
    "bikes.mp4": (272, 640, 250, 25.0),
}
SMALL = 160 * 90  # pixel budget that keeps the tests fast


def all_frames(path, height, width):
    """Reference: every frame, decoded sequentially, converted the same way."""
    with av.open(path) as container:
        return np.stack([f.to_ndarray(width=width, height=height, format="rgb24", interpolation=INTERPOLATION)
                         for f in container.decode(video=0)])


@pytest.mark.parametrize("name", CLIPS)
def test_metadata_shape_and_uniform_indices(name):
    height, width, total, fps = CLIPS[name]
    clip = load_clip(os.path.join(VIDEOS, name), num_frames=8)
    assert clip.frames.shape == (8, height, width, 3) and clip.frames.dtype == np.uint8
    assert clip.source_size == (height, width) and clip.fps == fps
    assert clip.duration == pytest.approx(total / fps, abs=1 / fps)
    np.testing.assert_array_equal(clip.frame_indices, np.linspace(0, total - 1, 8).round())
    assert clip.transform is None and clip.path.endswith(name)


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("num_frames", [6, 40])
def test_frames_equal_a_full_sequential_decode(name, num_frames):
    # bikes has keyframes at 0, 30, 76, 137, 187, 242 (6 frames take the seek path) and 115 non-reference
    # B-frames that load_clip skips unless it keeps them (40 frames keep some); bigbuckbunny is one GOP of P-frames.
    path = os.path.join(VIDEOS, name)
    clip = load_clip(path, num_frames=num_frames, max_pixels=SMALL)
    np.testing.assert_array_equal(clip.frame_indices, np.linspace(0, CLIPS[name][2] - 1, num_frames).round())
    reference = all_frames(path, *clip.frames.shape[1:3])
    assert len(reference) == CLIPS[name][2]
    np.testing.assert_array_equal(clip.frames, reference[clip.frame_indices])
    assert clip.frames.std() > 10  # real pictures, not a constant fill


def test_decode_plan_seeks_only_past_skippable_frames():
    keys = [0, 30, 76, 137, 187, 242]
    assert decode_plan(np.array([0, 36, 71, 107, 142, 178, 213, 249]), keys) == [
        (0, [0]), (30, [36, 71, 107]), (137, [142, 178]), (187, [213]), (242, [249])]
    assert decode_plan(np.arange(0, 250, 5), [0]) == [(0, list(range(0, 250, 5)))]  # one GOP: one pass
    assert decode_plan(np.array([200, 210]), keys) == [(187, [200, 210])]  # starts at the keyframe, not at 0


@pytest.mark.parametrize("asked, expected", [(1, 2), (2, 2), (7, 8), (8, 8), (15, 16)])
def test_frame_count_is_even_and_at_least_asked(asked, expected):
    clip = load_clip(os.path.join(VIDEOS, "bikes.mp4"), num_frames=asked, max_pixels=SMALL)
    assert clip.num_frames == expected and len(clip.frame_indices) == expected


def test_fps_sampling_floors_to_even_and_caps_at_the_frames_available():
    path = os.path.join(VIDEOS, "bikes.mp4")  # 10 s
    assert load_clip(path, fps=2.0, max_pixels=SMALL).num_frames == 20
    assert load_clip(path, fps=0.25, max_pixels=SMALL).num_frames == 2
    assert len(sample_indices(0, 4, 25.0, fps=100.0)) == 4
    np.testing.assert_array_equal(sample_indices(0, 4, 25.0, num_frames=None), [0, 1, 3, 4])


def test_more_frames_than_the_range_repeats_frames():
    clip = load_clip(os.path.join(VIDEOS, "bikes.mp4"), num_frames=8, start=1.0, end=1.1, max_pixels=SMALL)
    np.testing.assert_array_equal(clip.frame_indices, np.linspace(25, 27, 8).round())
    assert list(np.unique(clip.frame_indices)) == [25, 26, 27]
    np.testing.assert_array_equal(clip.frames[0], clip.frames[1])  # both frame 25
    assert not np.array_equal(clip.frames[1], clip.frames[2])


@pytest.mark.parametrize("name", CLIPS)
def test_start_end_bound_the_sampled_frames(name):
    fps = CLIPS[name][3]
    clip = load_clip(os.path.join(VIDEOS, name), num_frames=4, start=1.5, end=3.0, max_pixels=SMALL)
    first, last = math.ceil(1.5 * fps), math.floor(3.0 * fps)
    np.testing.assert_array_equal(clip.frame_indices, np.linspace(first, last, 4).round())
    full = all_frames(os.path.join(VIDEOS, name), *clip.frames.shape[1:3])
    np.testing.assert_array_equal(clip.frames, full[clip.frame_indices])


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("max_pixels", [SMALL, 320 * 180])  # both below the source sizes
def test_pixel_budget_keeps_aspect_and_factor(name, max_pixels):
    height, width = CLIPS[name][:2]
    clip = load_clip(os.path.join(VIDEOS, name), num_frames=2, max_pixels=max_pixels)
    h, w = clip.frames.shape[1:3]
    assert h % 28 == 0 and w % 28 == 0 and h * w <= max_pixels
    scale = math.sqrt(max_pixels / (height * width))  # aspect kept: each side is the scaled side floored to 28
    assert h <= height * scale < h + 28 and w <= width * scale < w + 28
    assert (h, w) == smart_resize(height, width, 28, None, max_pixels)


def test_min_pixels_upscales_and_size_factor_applies():
    clip = load_clip(os.path.join(VIDEOS, "bikes.mp4"), num_frames=2, min_pixels=640 * 480, size_factor=32)
    h, w = clip.frames.shape[1:3]
    assert h % 32 == 0 and w % 32 == 0 and h * w >= 640 * 480 and h > 272


def test_smart_resize_matches_qwen_vl_utils():
    qwen = pytest.importorskip("qwen_vl_utils.vision_process")
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(x) for x in rng.integers(30, 4000, size=2))
        lo = int(rng.integers(28 * 28, 200_000))
        hi = lo + int(rng.integers(0, 2_000_000))
        for factor in (28, 32):
            assert smart_resize(h, w, factor, lo, hi) == qwen.smart_resize(h, w, factor, lo, hi), (h, w, lo, hi)


def test_cache_hit_reads_the_cache_and_a_new_mtime_invalidates_it(tmp_path):
    video = tmp_path / "bikes.mp4"
    shutil.copy(os.path.join(VIDEOS, "bikes.mp4"), video)
    cache = tmp_path / "cache"
    fresh = load_clip(video, num_frames=4, max_pixels=SMALL, cache_dir=cache)
    entries = sorted(p.name for p in cache.iterdir())
    assert [n.rsplit(".", 1)[1] for n in entries] == ["json", "npy"]  # no temporary file left behind
    hit = load_clip(video, num_frames=4, max_pixels=SMALL, cache_dir=cache)
    np.testing.assert_array_equal(hit.frames, fresh.frames)
    np.testing.assert_array_equal(hit.frame_indices, fresh.frame_indices)
    assert (hit.fps, hit.source_size, hit.duration) == (fresh.fps, fresh.source_size, fresh.duration)

    # Prove the hit comes from the cache: poison the stored frames and read them back.
    np.save(cache / entries[1], np.zeros_like(fresh.frames))
    assert load_clip(video, num_frames=4, max_pixels=SMALL, cache_dir=cache).frames.max() == 0
    # Other sampling arguments are another entry.
    assert load_clip(video, num_frames=6, max_pixels=SMALL, cache_dir=cache).frames.max() > 0
    # Touching the file changes its key: decoded again, the poisoned entry is never read.
    st = os.stat(video)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = load_clip(video, num_frames=4, max_pixels=SMALL, cache_dir=cache)
    np.testing.assert_array_equal(again.frames, fresh.frames)


def test_missing_and_unreadable_files_raise_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.mp4: cannot read video"):
        load_clip(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    with pytest.raises(DataError, match=r"notes\.mp4: cannot decode video"):
        load_clip(text)
    with pytest.raises(DataError, match=r"bikes\.mp4: no frames between start=20"):
        load_clip(os.path.join(VIDEOS, "bikes.mp4"), start=20.0, end=30.0)
