"""Each agreement metric on constructed cases whose answer is known: identical -> 1, disjoint -> 0,
and the textbook value in between."""

import math

import numpy as np
import pytest

from image_interpreter.priors.schema import Box, Keypoint, Person
from image_interpreter.rank.maps import (
    depth_agreement,
    edges_f1,
    mask_iou,
    metric_depth_agreement,
    scale_invariant_log_error,
    segmentation_agreement,
)
from image_interpreter.rank.objects import absence, match_objects
from image_interpreter.rank.pose import COCO_SIGMAS, match_people, oks, pck, person_pose

STANDING = {
    "nose": (50.0, 10.0),
    "left_shoulder": (60.0, 30.0),
    "right_shoulder": (40.0, 30.0),
    "left_hip": (58.0, 60.0),
    "right_hip": (42.0, 60.0),
    "left_ankle": (58.0, 95.0),
    "right_ankle": (42.0, 95.0),
}


def moved(pose, dx=0.0, dy=0.0):
    return {name: (x + dx, y + dy) for name, (x, y) in pose.items()}


# --- pose --------------------------------------------------------------------------------------


def test_the_same_pose_has_oks_and_pck_one():
    assert oks(STANDING, STANDING, area=100 * 100) == 1.0
    assert pck(STANDING, STANDING, size=100) == 1.0


def test_a_pose_shifted_by_d_has_cocos_formula_for_oks():
    area, d = 80.0 * 100.0, 6.0
    k = {name: 2 * COCO_SIGMAS[name] for name in STANDING}
    expected = np.mean([math.exp(-(d**2) / (2 * area * k[name] ** 2)) for name in STANDING])
    assert oks(STANDING, moved(STANDING, dx=d), area) == pytest.approx(expected, rel=1e-12)
    # two shoulders alone, shifted by 0.1 in a unit area: exp(-0.01 / (2 * 0.158²))
    shoulders = {n: STANDING[n] for n in ("left_shoulder", "right_shoulder")}
    assert oks(shoulders, moved(shoulders, dy=0.1), 1.0) == pytest.approx(0.818495, abs=1e-6)


def test_a_joint_the_candidate_lacks_counts_as_missed():
    half = {n: xy for n, xy in STANDING.items() if n != "nose"}
    assert oks(STANDING, half, 10_000) == pytest.approx(6 / 7)
    assert pck(STANDING, half, 100) == pytest.approx(6 / 7)


def test_pck_counts_joints_within_alpha_times_the_size():
    assert pck(STANDING, moved(STANDING, dx=9.9), size=100, alpha=0.1) == 1.0
    assert pck(STANDING, moved(STANDING, dx=10.1), size=100, alpha=0.1) == 0.0


def test_people_are_matched_whatever_order_they_are_listed_in():
    left, right = STANDING, moved(STANDING, dx=200)
    result = match_people([left, right], [right, left])
    assert result.score == pytest.approx(1.0)
    assert [(m.target, m.candidate) for m in result.matches] == [(0, 1), (1, 0)]


def test_a_missing_or_extra_person_costs_their_share():
    left, right, far = STANDING, moved(STANDING, dx=200), moved(STANDING, dx=400)
    assert match_people([left, right], [left]).score == pytest.approx(0.5)
    assert match_people([left, right], [left]).matches[1].candidate is None
    assert match_people([left, right], [left, right, far]).score == pytest.approx(2 / 3)
    assert match_people([], []).score == 1.0
    assert match_people([left], []).score == 0.0


def test_a_persons_pose_is_read_in_pixels_with_only_seen_joints():
    person = Person(
        box=Box(x0=0.1, y0=0.0, x1=0.3, y1=0.5),
        body={
            "nose": Keypoint(x=0.5, y=0.25),
            "neck": Keypoint(x=0.5, y=0.5, confidence=0.0),  # guessed: not scored
        },
    )
    pose, size = person_pose(person, width=200, height=100)
    assert pose == {"nose": (100.0, 25.0)}
    assert size == pytest.approx((40.0, 50.0))


# --- depth -------------------------------------------------------------------------------------

RAMP = np.tile(np.linspace(0.1, 1.0, 32), (24, 1)) + np.linspace(0, 0.5, 24)[:, None]


def test_a_depth_map_scaled_by_two_or_shifted_agrees_perfectly():
    assert depth_agreement(RAMP, RAMP) == pytest.approx(1.0)
    assert depth_agreement(2 * RAMP, RAMP) == pytest.approx(1.0)
    assert depth_agreement(0.5 * RAMP + 0.3, RAMP) == pytest.approx(1.0)
    assert scale_invariant_log_error(2 * RAMP, RAMP) == pytest.approx(0.0, abs=1e-12)
    assert metric_depth_agreement(2 * RAMP, RAMP) == pytest.approx(1.0)


def test_inverted_or_flat_depth_agrees_not_at_all():
    assert depth_agreement(RAMP.max() - RAMP, RAMP) == 0.0  # near and far swapped
    assert depth_agreement(np.full_like(RAMP, 0.4), RAMP) == 0.0


def test_depth_noise_gives_the_known_log_error():
    # log ratios alternate between +δ and -δ: their variance is δ²
    delta = 0.1
    signs = np.where(np.indices(RAMP.shape).sum(axis=0) % 2 == 0, 1.0, -1.0)
    noisy = 3 * RAMP * np.exp(delta * signs)
    assert scale_invariant_log_error(noisy, RAMP) == pytest.approx(delta**2)
    assert metric_depth_agreement(noisy, RAMP) == pytest.approx(math.exp(-delta))
    assert 0.5 < depth_agreement(noisy, RAMP) < 1.0


# --- masks and objects -------------------------------------------------------------------------


def square(x, y, side=10, size=40):
    mask = np.zeros((size, size), dtype=bool)
    mask[y : y + side, x : x + side] = True
    return mask


def test_mask_iou_identical_disjoint_and_half_shifted():
    assert mask_iou(square(5, 5), square(5, 5)) == 1.0
    assert mask_iou(square(0, 0), square(20, 20)) == 0.0
    assert mask_iou(square(0, 0), square(5, 0)) == pytest.approx(50 / 150)


def test_objects_pair_by_label_then_overlap():
    dog, cat = ("dog", square(0, 0)), ("cat", square(20, 20))
    score, matches = match_objects([dog, cat], [("Cat", square(20, 20)), ("dog", square(5, 0))])
    assert score == pytest.approx((1 / 3 + 1.0) / 2)
    assert [(m.target, m.candidate) for m in matches] == [(0, 1), (1, 0)]
    # the right place with the wrong label is no match, unless labels are ignored
    assert match_objects([dog], [("horse", square(0, 0))])[0] == 0.0
    assert match_objects([dog], [("horse", square(0, 0))], by_label=False)[0] == 1.0


def test_a_removed_object_should_be_gone():
    dog = ("dog", square(0, 0))
    assert absence(dog, []) == 1.0
    assert absence(dog, [("dog", square(0, 0))]) == 0.0
    assert absence(dog, [("cat", square(0, 0))]) == 1.0


# --- edges -------------------------------------------------------------------------------------


def line(offset=0, length=30, size=40):
    edges = np.zeros((size, size), dtype=np.uint8)
    edges[5 : 5 + length, 10 + offset] = 255
    return edges


def test_edges_f1_identical_disjoint_and_within_tolerance():
    assert edges_f1(line(), line()) == 1.0
    assert edges_f1(line(offset=3), line(), tolerance=2) == 0.0
    assert edges_f1(line(offset=3), line(), tolerance=3) == 1.0
    assert edges_f1(np.zeros((40, 40)), np.zeros((40, 40))) == 1.0
    assert edges_f1(np.zeros((40, 40)), line()) == 0.0


def test_half_the_edges_found_is_f1_two_thirds():
    # exact pixels: precision 1 (every candidate pixel is right), recall 1/2
    assert edges_f1(line(length=15), line(length=30), tolerance=0) == pytest.approx(2 / 3)
    # a pixel of tolerance also finds the target pixel just past the candidate's end: 16/30
    assert edges_f1(line(length=15), line(length=30), tolerance=1) == pytest.approx(32 / 46)


# --- segmentation ------------------------------------------------------------------------------


def test_segmentation_mean_iou_and_pixel_accuracy():
    halves = np.zeros((10, 10), dtype=np.uint8)
    halves[:, 5:] = 2
    assert segmentation_agreement(halves, halves) == (1.0, 1.0)
    assert segmentation_agreement(halves + 7, halves) == (0.0, 0.0)  # no class in common
    # all class 0: class 0 has IoU 50/100, class 2 has 0
    miou, accuracy = segmentation_agreement(np.zeros_like(halves), halves)
    assert (miou, accuracy) == (pytest.approx(0.25), pytest.approx(0.5))


def test_maps_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="different sizes"):
        mask_iou(np.zeros((4, 4)), np.zeros((5, 4)))
