"""Control images: skeletons pixel-identical to controlnet-aux's, maps coloured and sized as the
ControlNets expect, inpainting masks, and a cache that re-renders only what an edit changed."""

import dataclasses
import io
import subprocess
import sys
import threading
import types
import warnings

import numpy as np
import pytest
from PIL import Image

from image_interpreter.artifacts.store import ArtifactStore
from image_interpreter.errors import ArtifactError, PriorsError
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.joints import FACE_70, HAND_21, OPENPOSE_BODY_18
from image_interpreter.priors.render import (
    ADE20K_CLASSES,
    ADE20K_PALETTE,
    RENDERERS,
    RenderCache,
    ade20k_index,
    ade20k_label,
    draw_openpose,
    render_controls,
    render_inpaint_mask,
    render_prior,
)
from image_interpreter.priors.schema import (
    ArtifactRef,
    Box,
    DetectedObject,
    Face,
    Keypoint,
    ObjectsPrior,
    Person,
)

SIZES = [(512, 768), (1024, 1024)]

# --- controlnet-aux, the reference ----------------------------------------------------------


def _matplotlib_hsv_to_rgb(hsv):
    """matplotlib.colors.hsv_to_rgb's algorithm, vectorised as matplotlib writes it; used only
    where matplotlib (which controlnet-aux imports to colour hand bones) is not installed."""
    hsv = np.asarray(hsv, dtype=np.promote_types(np.asarray(hsv).dtype, np.float32))
    h, s, v = hsv[..., 0:1], hsv[..., 1:2], hsv[..., 2:3]
    i = (h * 6.0).astype(int)
    f = (h * 6.0) - i
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    r, g, b = (np.choose(i % 6, [c[k] for c in choices]) for k in range(3))
    return np.concatenate([r, g, b], axis=-1)


@pytest.fixture(scope="module")
def aux():
    """controlnet_aux.open_pose's drawing code and types (imported here only: it loads torch)."""
    added = {}
    try:
        import matplotlib.colors  # noqa: F401
    except ImportError:
        colors = types.ModuleType("matplotlib.colors")
        colors.hsv_to_rgb = _matplotlib_hsv_to_rgb
        package = types.ModuleType("matplotlib")
        package.colors = colors
        added = {"matplotlib": package, "matplotlib.colors": colors}
        sys.modules.update(added)
    with warnings.catch_warnings():  # its imports warn about deprecations of its own
        warnings.simplefilter("ignore")
        from controlnet_aux.open_pose import PoseResult, draw_poses
        from controlnet_aux.open_pose.body import BodyResult
        from controlnet_aux.open_pose.body import Keypoint as AuxKeypoint

    yield types.SimpleNamespace(
        draw_poses=draw_poses, PoseResult=PoseResult, BodyResult=BodyResult, Keypoint=AuxKeypoint
    )
    for name in added:
        sys.modules.pop(name, None)


def _to_aux(aux, person):
    """Our person -> controlnet-aux's PoseResult, with its conventions for missing points
    (None in the body; (-1, -1) in hands and face, as its detector writes them)."""
    body = [
        aux.Keypoint(person.body[n].x, person.body[n].y) if n in person.body else None
        for n in OPENPOSE_BODY_18
    ]

    def listed(points, order):
        if not points:
            return None
        missing = aux.Keypoint(-1.0, -1.0)
        return [aux.Keypoint(points[n].x, points[n].y) if n in points else missing for n in order]

    hands = {side: listed(hand.keypoints, HAND_21) for side, hand in person.hands.items()}
    face = listed(person.face.landmarks, FACE_70) if person.face else None
    return aux.PoseResult(
        aux.BodyResult(body, 0.0, len(person.body)), hands.get("left"), hands.get("right"), face
    )


def _assert_identical(aux, people, size, body=True, hands=True, face=True):
    width, height = size
    ours = draw_openpose(people, width, height, draw_body=body, draw_hands=hands, draw_face=face)
    theirs = aux.draw_poses([_to_aux(aux, p) for p in people], height, width, body, hands, face)
    assert ours.shape == (height, width, 3) and ours.dtype == np.uint8
    assert ours.any(), "nothing was drawn: the comparison would prove nothing"
    differ = np.argwhere((ours != theirs).any(axis=-1))
    assert not len(differ), f"{len(differ)} pixels differ from controlnet-aux, e.g. {differ[:3]}"
    return ours


def _person_with_gaps():
    """Joints, hand joints and face landmarks missing, and points at the frame's edges."""
    person = example_priorset().people.people[0].model_copy(deep=True)
    for name in ("left_knee", "right_ear", "nose"):
        del person.body[name]
    person.body["left_ankle"] = Keypoint(x=1.03, y=0.99)  # just outside the frame
    hand = person.hands["left"]
    del hand.keypoints["index_tip"], hand.keypoints["wrist"]
    hand.keypoints["pinky_tip"] = Keypoint(x=0.0005, y=0.5)  # truncates to pixel 0: not drawn
    person.hands["right"].keypoints.clear()
    person.face = Face(landmarks={n: p for n, p in person.face.landmarks.items() if "jaw" not in n})
    return person


# --- skeletons --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "parts", [(True, False, False), (True, True, False), (True, True, True)],
    ids=["body", "body+hands", "body+hands+face"],
)  # fmt: skip
def test_skeleton_is_pixel_identical_to_controlnet_aux(aux, size, parts):
    people = example_priorset(people=1).people.people
    canvas = _assert_identical(aux, people, size, *parts)
    nose = people[0].body["nose"]
    assert tuple(canvas[int(nose.y * size[1]), int(nose.x * size[0])]) == (255, 0, 0)
    white = (canvas == 255).all(axis=-1).any()
    assert white == parts[2], "face landmarks are the only white points"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_several_people_and_missing_points_are_identical(aux, size):
    three = example_priorset(people=3).people.people
    _assert_identical(aux, three, size)
    _assert_identical(aux, [_person_with_gaps(), three[2]], size)
    _assert_identical(aux, [_person_with_gaps()], size, True, True, False)


def test_random_poses_are_identical(aux):
    """Seeded random people: points anywhere, near and beyond the edges, parts missing."""
    rng = np.random.default_rng(7)

    def points(names, missing):
        spots = rng.choice([-0.1, 0.001, 0.5, 1.05], size=len(names), p=[0.05, 0.05, 0.8, 0.1])
        values = spots + rng.uniform(-0.5, 0.5, (len(names), 2)).T * (spots == 0.5)
        keep = rng.random(len(names)) >= missing
        return {n: Keypoint(x=x, y=y) for n, x, y, k in zip(names, *values, keep, strict=True) if k}

    for _ in range(12):
        people = [
            Person(
                body=points(OPENPOSE_BODY_18, 0.2),
                hands={"left": {"keypoints": points(HAND_21, 0.2)}, "right": {}},
                face={"landmarks": points(FACE_70, 0.3)},
            )
            for _ in range(int(rng.integers(1, 4)))
        ]
        _assert_identical(aux, people, (int(rng.integers(200, 700)), int(rng.integers(200, 700))))


def test_hand_bones_have_controlnet_aux_colours():
    """The 20 bone colours as drawn (matplotlib 3.11's hsv_to_rgb * 255, rounded by OpenCV)."""
    expected = [
        (255, 0, 0), (255, 77, 0), (255, 153, 0), (255, 229, 0), (204, 255, 0), (128, 255, 0),
        (51, 255, 0), (0, 255, 25), (0, 255, 102), (0, 255, 179), (0, 255, 255), (0, 178, 255),
        (0, 102, 255), (0, 25, 255), (51, 0, 255), (128, 0, 255), (204, 0, 255), (255, 0, 230),
        (255, 0, 153), (255, 0, 77),
    ]  # fmt: skip
    names = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip")
    hand = {n: Keypoint(x=0.1 + 0.2 * i, y=0.5) for i, n in enumerate(names)}
    canvas = draw_openpose([Person(hands={"left": {"keypoints": hand}})], 500, 100)
    for bone in range(4):  # the four thumb bones, sampled between the joints
        assert tuple(canvas[50, 100 + 100 * bone]) == expected[bone]
    assert tuple(canvas[50, 50]) == (0, 0, 255)  # the wrist: a blue point


def test_people_renderer_options_and_disabled_prior():
    priors = example_priorset(people=2)
    full = render_prior("people", priors.people, (512, 768))
    no_face = render_prior("people", priors.people, (512, 768), draw_face=False)
    assert full.mode == "RGB" and full.size == (512, 768)
    assert (np.asarray(full) == 255).all(axis=-1).any()
    assert not (np.asarray(no_face) == 255).all(axis=-1).any()
    nothing = render_prior("people", priors.people, (512, 768), draw_body=False, draw_hands=False,
                           draw_face=False)  # fmt: skip
    assert not np.asarray(nothing).any()
    priors.people.enabled = False
    assert "people" not in render_controls(priors, (512, 768), kinds=["people"])


def test_extreme_coordinates_do_not_crash():
    far = Person(body={"neck": Keypoint(x=1e9, y=-1e9), "nose": Keypoint(x=0.5, y=0.1)})
    canvas = draw_openpose([far], 256, 256)
    assert tuple(canvas[25, 128]) == (255, 0, 0)  # the nose still drawn, the neck dropped


def test_render_package_loads_no_torch():
    code = (
        "import sys, image_interpreter.priors.render as r; r.render_controls;"
        "bad = {'torch', 'controlnet_aux', 'matplotlib'} & set(sys.modules);"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


# --- maps ------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "artifacts")


def _png(array, mode=None):
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _ref(store, data):
    return ArtifactRef(sha256=store.put(data))


def _ramp16(width=64, height=32):
    """Left-to-right 16-bit ramp: far (dark) on the left, near (bright) on the right."""
    return np.tile(np.linspace(0, 65535, width).round().astype(np.uint16), (height, 1))


def _seg_map():
    """Top half person (12), bottom-left tree (4), bottom-right unlabelled (255)."""
    indices = np.full((40, 60), 12, dtype=np.uint8)
    indices[20:, :30] = 4
    indices[20:, 30:] = 255
    return indices


def _edge_map():
    edges = np.zeros((50, 80), dtype=np.uint8)
    edges[25, 10:70] = 255
    return edges


def _map_priors(store):
    priors = example_priorset(people=2)
    priors.depth.map = _ref(store, _png(_ramp16()))
    priors.segmentation.map = _ref(store, _png(_seg_map()))
    priors.segmentation.enabled = True
    priors.edges.map = _ref(store, _png(_edge_map()))
    return priors


def test_depth_becomes_rgb_grey_with_16_bit_precision_kept(store):
    priors = _map_priors(store)
    same = np.asarray(render_prior("depth", priors.depth, (64, 32), store.get))
    ramp = _ramp16()
    assert same.shape == (32, 64, 3)
    assert (same[..., 0] == same[..., 1]).all() and (same[..., 1] == same[..., 2]).all()
    assert np.array_equal(same[..., 0], np.round(ramp / 257.0).astype(np.uint8))
    big = np.asarray(render_prior("depth", priors.depth, (256, 128), store.get))
    assert big.shape == (128, 256, 3)
    assert big[64, 0, 0] == 0 and big[64, -1, 0] == 255, "far stays dark, near stays bright"
    assert (np.diff(big[64, :, 0].astype(int)) >= 0).all()
    eight = _ref(store, _png((ramp >> 8).astype(np.uint8)))
    small = render_prior("depth", priors.depth.model_copy(update={"map": eight}), (32, 16),
                         store.get)  # fmt: skip
    assert small.size == (32, 16) and np.asarray(small)[8, -1, 0] >= 250


def test_segmentation_uses_the_ade20k_palette_without_blending(store):
    priors = _map_priors(store)
    image = np.asarray(render_prior("segmentation", priors.segmentation, (180, 120), store.get))
    assert image.shape == (120, 180, 3)
    assert tuple(image[10, 90]) == ADE20K_PALETTE[12] == (150, 5, 61)  # person
    assert tuple(image[100, 20]) == ADE20K_PALETTE[4] == (4, 200, 3)  # tree
    assert tuple(image[100, 170]) == (0, 0, 0)  # unlabelled
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours == {(150, 5, 61), (4, 200, 3), (0, 0, 0)}, "resizing invented colours"
    palettised = Image.frombytes("P", (60, 40), _seg_map().tobytes())  # indices as a palette
    palettised.putpalette([v for i in range(256) for v in (i, 0, 0)])
    buffer = io.BytesIO()
    palettised.save(buffer, format="PNG")
    p_prior = priors.segmentation.model_copy(update={"map": _ref(store, buffer.getvalue())})
    assert np.array_equal(np.asarray(render_prior("segmentation", p_prior, (180, 120), store.get)),
                          image)  # fmt: skip


def test_ade20k_table_is_controlnet_aux_s_and_labels_round_trip():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from controlnet_aux.util import ade_palette  # the palette the annotators colour with

    assert [list(c) for c in ADE20K_PALETTE] == ade_palette()
    assert len(ADE20K_CLASSES) == 150 and ADE20K_CLASSES[0] == "wall"
    assert ade20k_index("person") == 12 and ade20k_index("Chest_of  Drawers") == 44
    assert all(ade20k_index(ade20k_label(i)) == i for i in range(150))
    with pytest.raises(PriorsError, match="Did you mean 'person'"):
        ade20k_index("persn")
    with pytest.raises(PriorsError, match="0-149"):
        ade20k_label(150)


def test_edges_become_rgb_at_the_target_size(store):
    priors = _map_priors(store)
    same = np.asarray(render_prior("edges", priors.edges, (80, 50), store.get))
    assert same.shape == (50, 80, 3)
    assert (same[25, 10:70] == 255).all() and same[:20].max() == 0
    big = np.asarray(render_prior("edges", priors.edges, (160, 100), store.get))
    assert big.shape == (100, 160, 3) and big[50:52, 40].max() > 100 and big[:40].max() == 0


def test_render_controls_draws_each_enabled_prior_with_a_controlnet(store):
    priors = _map_priors(store)
    images = render_controls(priors, (128, 192), store.get)
    assert list(images) == ["people", "depth", "segmentation", "edges"]
    assert all(image.size == (128, 192) and image.mode == "RGB" for image in images.values())
    priors.segmentation.enabled = False
    assert list(render_controls(priors, None, store.get)) == ["people", "depth", "edges"]
    assert render_controls(priors, None, store.get)["depth"].size == (512, 768)  # the source's
    only = render_controls(priors, (64, 64), store.get, kinds=["depth"])
    assert list(only) == ["depth"]


# --- inpainting masks ------------------------------------------------------------------------


def _objects(store):
    left = np.zeros((100, 100), dtype=np.uint8)
    left[20:40, 10:30] = 255
    right = np.zeros((100, 100), dtype=np.uint8)
    right[60:80, 70:90] = 255
    return ObjectsPrior(
        objects=[
            DetectedObject(label="cat", box=Box(x0=0.1, y0=0.2, x1=0.3, y1=0.4),
                           mask=_ref(store, _png(left))),
            DetectedObject(label="dog", box=Box(x0=0.7, y0=0.6, x1=0.9, y1=0.8),
                           mask=_ref(store, _png(right))),
            DetectedObject(label="Cat", box=Box(x0=0.5, y0=0.0, x1=0.6, y1=0.1)),  # no mask
        ]
    )  # fmt: skip


def test_inpaint_mask_is_the_union_of_the_selected_objects(store):
    objects = _objects(store)
    every = np.asarray(render_inpaint_mask(objects, (100, 100), store.get))
    assert set(np.unique(every)) == {0, 255}
    assert every[30, 20] == every[70, 80] == every[5, 55] == 255 and every[50, 50] == 0
    assert (every == 255).sum() == 400 + 400 + 100
    dog = render_inpaint_mask(objects, (100, 100), store.get, select=[1])
    assert dog.mode == "L" and (np.asarray(dog) == 255).sum() == 400
    cats = np.asarray(render_inpaint_mask(objects, (100, 100), store.get, select=["cat"]))
    assert cats[30, 20] == cats[5, 55] == 255 and cats[70, 80] == 0
    double = np.asarray(render_inpaint_mask(objects, (200, 200), store.get, select=[0]))
    assert (double == 255).sum() == 1600 and double[60, 40] == 255


def test_inpaint_mask_dilation_grows_by_that_many_pixels(store):
    grown = np.asarray(render_inpaint_mask(_objects(store), (100, 100), store.get, select=[0],
                                           dilate=5))  # fmt: skip
    assert grown[30, 5] == 255 and grown[30, 4] == 0  # object starts at column 10
    assert grown[15, 20] == 255 and grown[14, 20] == 0  # and at row 20
    assert grown[15, 5] == 0, "corners grow round, not square"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select": [3]}, "index from 0 to 2"),
        ({"select": ["horse"]}, "'cat', 'dog'"),
        ({"select": []}, "No objects were selected"),
        ({"dilate": -1}, "0 or more"),
    ],
)
def test_inpaint_mask_errors(store, kwargs, message):
    with pytest.raises(PriorsError, match=message):
        render_inpaint_mask(_objects(store), (100, 100), store.get, **kwargs)


def test_inpaint_mask_without_objects():
    with pytest.raises(PriorsError, match="Extract objects first"):
        render_inpaint_mask(None, (100, 100), lambda sha: b"")


# --- cache -----------------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch):
    """Counts renderer calls by kind."""
    counted: dict[str, int] = {}
    for kind, entry in list(RENDERERS.items()):

        def counting(*args, _fn=entry.fn, _kind=kind, **kwargs):
            counted[_kind] = counted.get(_kind, 0) + 1
            return _fn(*args, **kwargs)

        monkeypatch.setitem(RENDERERS, kind, dataclasses.replace(entry, fn=counting))
    return counted


def test_an_edit_re_renders_only_the_priors_it_changed(store, calls):
    cache = RenderCache()
    priors = _map_priors(store)
    first = render_controls(priors, (256, 384), store.get, cache=cache)
    assert calls == {"people": 1, "depth": 1, "segmentation": 1, "edges": 1}

    people = priors.people.model_copy(deep=True)
    people.people[0].body["right_wrist"] = Keypoint(x=0.2, y=0.3)
    edited = priors.model_copy(update={"people": people, "version": 2, "parent": 1})
    second = render_controls(edited, (256, 384), store.get, cache=cache)
    assert calls == {"people": 2, "depth": 1, "segmentation": 1, "edges": 1}
    assert first["people"] != second["people"]
    for kind in ("depth", "segmentation", "edges"):
        assert np.array_equal(np.asarray(first[kind]), np.asarray(second[kind]))

    reweighted = edited.model_copy(
        update={"depth": edited.depth.model_copy(update={"weight": 0.3})}
    )
    render_controls(reweighted, (256, 384), store.get, cache=cache)
    assert sum(calls.values()) == 5, "a new weight changes no pixel: nothing re-rendered"

    render_controls(
        edited, (256, 384), store.get, cache=cache, options={"people": {"draw_face": False}}
    )
    assert calls["people"] == 3 and sum(calls.values()) == 6
    render_controls(edited, (128, 192), store.get, cache=cache)
    assert calls == {"people": 4, "depth": 2, "segmentation": 2, "edges": 2}
    assert cache.hits >= 7


def test_cached_images_cannot_be_changed_by_a_caller(calls):
    cache = RenderCache()
    people = example_priorset().people
    image = render_prior("people", people, (64, 96), cache=cache)
    image.paste((9, 9, 9), (0, 0, 64, 96))
    again = render_prior("people", people, (64, 96), cache=cache)
    assert calls == {"people": 1} and np.asarray(again).max() == 255
    again.paste((9, 9, 9), (0, 0, 64, 96))
    assert np.asarray(render_prior("people", people, (64, 96), cache=cache)).max() == 255


def test_cache_evicts_the_least_recently_used_and_is_thread_safe(calls):
    cache = RenderCache(maxsize=2)
    people = example_priorset().people
    for size in ((10, 10), (20, 20), (10, 10), (30, 30), (10, 10)):
        render_prior("people", people, size, cache=cache)
    assert calls == {"people": 3} and len(cache) == 2  # (20, 20) was evicted, (10, 10) kept

    results, errors = [], []

    def work(i):
        try:
            results.append(
                np.asarray(render_prior("people", people, (40 + i % 3, 40), cache=cache))
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 12 and len(cache) == 2


# --- errors ----------------------------------------------------------------------------------


def test_missing_and_corrupt_artifacts(store):
    priors = _map_priors(store)
    gone = priors.depth.model_copy(update={"map": ArtifactRef(sha256="ab" * 32)})
    with pytest.raises(ArtifactError, match="missing"):
        render_prior("depth", gone, (64, 64), store.get)
    junk = priors.depth.model_copy(update={"map": _ref(store, b"this is not a png")})
    with pytest.raises(PriorsError, match=r"not a readable PNG.*Extract depth again"):
        render_prior("depth", junk, (64, 64), store.get)
    store.path_for(priors.edges.map.sha256).write_bytes(b"damaged on disk")
    with pytest.raises(ArtifactError, match="corrupt"):
        render_controls(priors, (64, 64), store.get)
    with pytest.raises(PriorsError, match=r"needs its map.*read_artifact"):
        render_prior("depth", priors.depth, (64, 64))
    rgb = priors.segmentation.model_copy(update={"map": _ref(store, _png(_seg_map(), "RGB"))})
    with pytest.raises(PriorsError, match="not a class-index PNG"):
        render_prior("segmentation", rgb, (64, 64), store.get)
    coco = priors.segmentation.model_copy(update={"palette": "coco"})
    with pytest.raises(PriorsError, match="only knows ADE20K"):
        render_prior("segmentation", coco, (64, 64), store.get)


@pytest.mark.parametrize("size", [(0, 512), (512, -1), (512.0, 512), (True, 8), (512,), "big",
                                  (10000, 10000)])  # fmt: skip
def test_bad_sizes_are_refused(size):
    with pytest.raises(PriorsError, match=r"size|pixels|too large"):
        render_prior("people", example_priorset().people, size)


def test_unknown_kinds_and_options_are_refused():
    priors = example_priorset()
    with pytest.raises(PriorsError, match=r"no ControlNet.*people, depth, segmentation, edges"):
        render_prior("caption", priors.caption, (64, 64))
    with pytest.raises(PriorsError, match="'pose' is not a prior kind"):
        render_controls(priors, (64, 64), kinds=["pose"])
    with pytest.raises(PriorsError, match=r"draw_feet.*accepts: draw_body, draw_face, draw_hands"):
        render_prior("people", priors.people, (64, 64), draw_feet=True)
    with pytest.raises(PriorsError, match="no ControlNet"):
        render_controls(priors, (64, 64), options={"palette": {}})
    with pytest.raises(PriorsError, match="was given a DepthPrior"):
        render_prior("people", priors.depth, (64, 64))
