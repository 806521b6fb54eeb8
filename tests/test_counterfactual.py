"""Counterfactual transforms on clips decoded from the real test videos."""
import os

import numpy as np
import pytest
import torch
from shared_data import VIDEOS

from crpo.data.counterfactual import TRANSFORMS, counterfactual, derangement
from crpo.data.video import Clip, load_clip


@pytest.fixture(scope="module", params=["bigbuckbunny.mp4", "bikes.mp4"])
def clip(request):
    return load_clip(os.path.join(VIDEOS, request.param), num_frames=8, max_pixels=160 * 90)


EXPECTED = {
    "hflip": (lambda f: f[:, :, ::-1], lambda i: i),
    "reverse": (lambda f: f[::-1], lambda i: i[::-1]),
    "hflip+reverse": (lambda f: f[::-1, :, ::-1], lambda i: i[::-1]),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_transforms_equal_the_numpy_operations(clip, name):
    before = clip.frames.copy()
    twin = counterfactual(clip, name)
    frames_of, indices_of = EXPECTED[name]
    np.testing.assert_array_equal(twin.frames, frames_of(clip.frames))
    np.testing.assert_array_equal(twin.frame_indices, indices_of(clip.frame_indices))
    assert not np.array_equal(twin.frames, clip.frames)  # real footage is neither symmetric nor palindromic
    assert twin.transform == name and clip.transform is None
    assert (twin.fps, twin.source_size, twin.duration, twin.path) == (clip.fps, clip.source_size, clip.duration,
                                                                       clip.path)
    np.testing.assert_array_equal(clip.frames, before)  # the original is untouched
    assert twin.frames.flags.c_contiguous and twin.frames.dtype == np.uint8
    torch.from_numpy(twin.frames)  # a negative-stride view would raise here


@pytest.mark.parametrize("name", TRANSFORMS)
def test_processor_metadata_never_reveals_the_branch(clip, name):
    twin = counterfactual(clip, name, seed=3)
    meta = twin.video_metadata()
    assert meta == clip.video_metadata()
    assert meta["frames_indices"] == sorted(meta["frames_indices"])
    if name != "hflip":
        assert list(twin.frame_indices) != sorted(twin.frame_indices)  # the clip itself still knows its order


def test_shuffle_is_a_seeded_derangement_of_the_frames(clip):
    a, b = counterfactual(clip, "shuffle", seed=7), counterfactual(clip, "shuffle", seed=7)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.frame_indices, b.frame_indices)
    # Every shuffled frame is the original frame its index names, and none stays in place.
    position = {int(i): k for k, i in enumerate(clip.frame_indices)}
    perm = np.array([position[int(i)] for i in a.frame_indices])
    np.testing.assert_array_equal(a.frames, clip.frames[perm])
    assert sorted(perm) == list(range(clip.num_frames)) and not np.any(perm == np.arange(clip.num_frames))
    others = {tuple(counterfactual(clip, "shuffle", seed=s).frame_indices) for s in range(8)}
    assert len(others) > 4  # the seed matters


def test_derangement_has_no_fixed_point_and_swaps_two():
    assert list(derangement(2, seed=0)) == [1, 0]
    for n in (3, 8, 32):
        for seed in range(20):
            perm = derangement(n, seed)
            assert sorted(perm) == list(range(n)) and not np.any(perm == np.arange(n))
    np.testing.assert_array_equal(derangement(16, 5), derangement(16, 5))


def test_bad_transform_names_the_valid_ones(clip):
    with pytest.raises(ValueError, match="unknown transform 'vflip'.*hflip, reverse, hflip\\+reverse, shuffle"):
        counterfactual(clip, "vflip")
    with pytest.raises(ValueError, match="already has transform 'hflip'"):
        counterfactual(counterfactual(clip, "hflip"), "reverse")


def test_in_memory_clip():
    frames = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    clip = Clip(frames=frames, fps=2.0, frame_indices=np.array([0, 1]), source_size=(2, 3), duration=1.0)
    twin = counterfactual(clip, "hflip+reverse")
    np.testing.assert_array_equal(twin.frames[0, 0, 0], frames[1, 0, 2])
    np.testing.assert_array_equal(counterfactual(clip, "shuffle", seed=1).frames, frames[::-1])


def test_package_exports_the_function_even_after_the_submodule_is_imported():
    import crpo.data.counterfactual  # noqa: F401  (what every training run does first)
    from crpo import counterfactual as exported
    from crpo import load_clip
    assert callable(exported) and exported.__name__ == "counterfactual" and callable(load_clip)
